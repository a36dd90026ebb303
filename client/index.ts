// `larder/client`: the HTTP client alone. Nothing here may import engine/ or server/,
// so that a program that only talks to a server never loads LevelDB.

import type { ConnectOptions, Store } from "../proto/api.ts";
import { createStore } from "../store/index.ts";
import { RemoteBackend } from "./remote.ts";
import { validateEnvironment } from "../proto/validate.ts";
import { InvalidError } from "../proto/errors.ts";

/** Connects to a Larder server; the returned Store behaves like an embedded one. */
export async function connect(url: string, options: ConnectOptions | null = {}): Promise<Store> {
  if (options === null || options === undefined) options = {};
  if (typeof options !== "object" || Array.isArray(options)) throw new InvalidError("connect() takes the server URL and an options object");
  // Without one, calls name no environment and the server uses its own default (its
  // `environment` option, "main" unless set).
  const environment = options.environment === undefined || options.environment === null ? undefined : validateEnvironment(options.environment);
  const backend = await RemoteBackend.connect(url, options);
  return createStore(backend, environment);
}

/**
 * The byte-level Backend over HTTP, for tools that need calls the typed Store does not
 * offer (the CLI's `queue list` reads per-queue partition counts through `queueStats`).
 */
export { RemoteBackend } from "./remote.ts";
export * from "../proto/errors.ts";
export type * from "../proto/api.ts";
