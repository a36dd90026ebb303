// The package's public door: the embedded store, the HTTP client and the server.

import type { OpenOptions, Store } from "./proto/api.ts";
import { openEngine } from "./engine/index.ts";
import { createStore } from "./store/index.ts";

/**
 * Opens a store: LevelDB in a folder, in memory with `{ memory: true }`, or in a
 * PostgreSQL database with `{ postgres: url }` (loaded only then: docs/postgres.md).
 */
export async function open(options: string | OpenOptions): Promise<Store> {
  if (options !== null && typeof options === "object" && options.postgres !== undefined) {
    const { openPostgres } = await import("./postgres/index.ts");
    const backend = await openPostgres(options);
    return createStore(backend, backend.environment);
  }
  const engine = await openEngine(options);
  return createStore(engine, engine.environment);
}

export { connect } from "./client/index.ts";
export { startServer } from "./server/index.ts";
export type { ServerOptions, LarderServer } from "./server/index.ts";
export * from "./proto/errors.ts";
export type * from "./proto/api.ts";
export { DEFAULT_LIMITS } from "./proto/limits.ts";
export type { Limits } from "./proto/limits.ts";
