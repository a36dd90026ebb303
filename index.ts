// The package's public door: the embedded store, the HTTP client and the server.

export { open } from "./engine/index.ts";
export { connect } from "./client/index.ts";
export { startServer } from "./server/index.ts";
export type { ServerOptions, LarderServer } from "./server/index.ts";
export * from "./proto/errors.ts";
export type * from "./proto/api.ts";
export { DEFAULT_LIMITS } from "./proto/limits.ts";
export type { Limits } from "./proto/limits.ts";
