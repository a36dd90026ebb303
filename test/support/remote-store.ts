// A remote Store for tests: a real server on port 0 over its own engine, and a real client
// connected to it. Closing the store closes the client, then the server.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock, ConnectOptions, Store } from "../../proto/api.ts";
import type { Limits } from "../../proto/limits.ts";
import { connect } from "../../client/index.ts";
import { startServer, type LarderServer, type ServerOptions } from "../../server/index.ts";

export interface RemoteStore extends Store {
  readonly server: LarderServer;
  readonly url: string;
}

export interface RemoteStoreOptions {
  limits?: Partial<Limits>;
  clock?: Clock;
  environment?: string;
  /** A data folder; default: in memory. */
  path?: string;
  server?: Partial<ServerOptions>;
  client?: ConnectOptions;
  /** "wire": the client connects over the framed transport (`larder://`), served on a port of its own. */
  transport?: "http" | "wire";
}

export async function remoteStore(options: RemoteStoreOptions = {}): Promise<RemoteStore> {
  const server = await startServer({
    port: 0,
    ...(options.path === undefined ? { memory: true } : { path: options.path, durability: "buffered" as const }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.transport === "wire" ? { wirePort: 0 } : {}),
    ...options.server,
  });
  const url = options.transport === "wire" ? server.wireUrl! : server.url;
  const store = await connect(url, {
    ...(options.environment === undefined ? {} : { environment: options.environment }),
    ...options.client,
  });
  const close = async (): Promise<void> => {
    try {
      await store.close();
    } finally {
      await server.close();
    }
  };
  return {
    dicts: store.dicts,
    queues: store.queues,
    server,
    url,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A fresh temporary folder, removed by the returned cleanup. */
export async function tempFolder(prefix = "larder-http-"): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
