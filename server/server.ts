// `startServer()`: opens the engine and serves it through the dispatch core
// (server/dispatch.ts) and its HTTP edge (server/http-edge.ts). docs/protocol.md describes
// the protocol for clients.
//
// Closing (close(), SIGINT/SIGTERM in `larder serve`): stop accepting; answer requests that
// arrive on open connections with 503 UNAVAILABLE; release long-polls (they answer as if
// nothing arrived); let other in-flight requests finish (at most closeGraceMs); stop the
// reaper; close the engine.

import { createServer } from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import { openEngine, type Engine } from "../engine/index.ts";
import { RecoveringEngine } from "./recovering.ts";
import { InvalidError, LockedError } from "../proto/errors.ts";
import { TokenCheck } from "./auth.ts";
import { Dispatcher } from "./dispatch.ts";
import { HttpEdge, KEEP_ALIVE_MS } from "./http-edge.ts";
import { Leases } from "./leases.ts";
import { ServerMetrics } from "./metrics.ts";
import { WireEdge } from "./wire-edge.ts";
import { engineOptions, resolveServerOptions, type ServerOptions } from "./options.ts";

export interface LarderServer {
  /** `http://HOST:PORT` with the port actually bound; loopback when bound to every interface. */
  readonly url: string;
  /** `larder://HOST:PORT` of the framed transport (docs/protocol.md), when `wirePort` was given. */
  readonly wireUrl: string | undefined;
  /** Graceful: stops accepting, answers in-flight requests, releases long-polls, closes the engine. */
  close(): Promise<void>;
  /** `await using server = await startServer(...)`: close() at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** What the server's close needs of each transport it serves on. */
interface Edge {
  /** Stops accepting connections; open ones stay, their new calls answered UNAVAILABLE. */
  stopAccepting(): void;
  /** Once the calls in flight are answered: closes what is left open. */
  closeConnections(): Promise<void>;
}

/** The graceful close, in order: stop accepting, release waits, drain, close connections, stop the reaper, close the engine. */
async function shutdown(core: Dispatcher, edges: readonly Edge[]): Promise<void> {
  for (const edge of edges) edge.stopAccepting();
  core.beginClose();
  await core.drain();
  await Promise.all(edges.map((edge) => edge.closeConnections()));
  await core.leases.stop();
  await core.engine.close();
}

/**
 * Binds the port. A port in use is LOCKED, like a data folder open elsewhere (the arguments
 * are fine; another process holds the resource); a host that is not this machine's, or a
 * port that needs privileges, is INVALID; neither is INTERNAL.
 */
function listen(http: NetServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      const where = `cannot listen on ${host}:${port}`;
      const why =
        err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" || err.code === "EAI_AGAIN" ? "the host is not an address of this machine"
        : err.code === "EACCES" ? "permission denied (ports below 1024 need privileges)"
        : undefined;
      if (err.code === "EADDRINUSE") reject(new LockedError(`${where}: the port is in use (EADDRINUSE)`, { cause: err }));
      else reject(why === undefined ? err : new InvalidError(`${where}: ${why} (${err.code})`, { cause: err }));
    };
    http.once("error", failed);
    http.listen(port, host, () => {
      http.off("error", failed);
      resolve(http.address() as AddressInfo);
    });
  });
}

function urlOf(address: AddressInfo, scheme: "http" | "larder"): string {
  const unspecified = address.address === "0.0.0.0" || address.address === "::";
  const host = unspecified ? (address.family === "IPv6" ? "::1" : "127.0.0.1") : address.address;
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}

/** Opens the engine and serves it over HTTP; resolves once the port is bound. */
export async function startServer(options: ServerOptions | null = {}): Promise<LarderServer> {
  if (options === null || options === undefined) options = {};
  if (typeof options !== "object" || Array.isArray(options)) throw new InvalidError("startServer() takes an options object");
  const resolved = resolveServerOptions(options);
  // An in-memory store cannot be reopened (that would empty it), nor fail a write to disk.
  // On PostgreSQL the database is shared by several servers: ephemeral leases live in its
  // rows (heartbeat_at), reaped by whichever process holds the sweeper lease, not here.
  const postgres = options.postgres !== undefined;
  // The engine's background errors go to the server's log; its batches to the metrics.
  const metrics = resolved.metrics ? new ServerMetrics() : undefined;
  const forEngine = { ...engineOptions(options), logError: resolved.logError, observer: metrics };
  const engine: Engine = postgres
    ? await (await import("../postgres/index.ts")).openPostgres({ ...forEngine, ephemeralExpiryMs: resolved.ephemeralExpiryMs })
    : options.memory === true
      ? await openEngine(forEngine)
      : await RecoveringEngine.open(forEngine, resolved.logError);
  metrics?.watch({
    stats: () => engine.stats?.(),
    reopens: () => (engine instanceof RecoveringEngine ? engine.reopens : 0),
  });
  try {
    const leases = new Leases({
      clock: options.clock ?? Date,
      expiryMs: resolved.ephemeralExpiryMs,
      reapIntervalMs: resolved.reapIntervalMs,
      deleteObject: (kind, id) => engine.deleteObjectById(kind, id),
      logError: resolved.logError,
    });
    for (const record of await engine.listEphemeral()) leases.start(record.kind, record.id);
    if (engine instanceof RecoveringEngine) {
      engine.onReopened = async () => {
        leases.renewAll();
        // An object whose reaping failed with the store lost its lease but may still be there.
        for (const record of await engine.listEphemeral()) if (!leases.has(record.id)) leases.start(record.kind, record.id);
      };
    }
    const core = new Dispatcher(engine, leases, resolved, metrics);
    const tokenCheck = resolved.token === undefined ? undefined : new TokenCheck(resolved.token);
    const http = createServer({ keepAliveTimeout: KEEP_ALIVE_MS });
    const edges: Edge[] = [new HttpEdge(core, tokenCheck, http)];
    const address = await listen(http, resolved.host, resolved.port);
    let wireUrl: string | undefined;
    if (resolved.wirePort !== undefined) {
      const wire = new WireEdge(core, tokenCheck);
      try {
        wireUrl = urlOf(await listen(wire.net, resolved.host, resolved.wirePort), "larder");
      } catch (err) {
        await new Promise((resolve) => http.close(resolve));
        throw err;
      }
      edges.push(wire);
    }
    if (!postgres) leases.startReaper();
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => (closed ??= shutdown(core, edges));
    return { url: urlOf(address, "http"), wireUrl, close, [Symbol.asyncDispose]: close };
  } catch (err) {
    await engine.close();
    throw err;
  }
}
