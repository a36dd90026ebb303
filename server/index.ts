// The server's public door: `startServer(options)` serves an engine over HTTP/1.1.
// The protocol is docs/protocol.md; the table of calls is proto/calls.ts.

export { startServer } from "./server.ts";
export type { LarderServer } from "./server.ts";
export { SERVER_DEFAULTS } from "./options.ts";
export type { ServerOptions } from "./options.ts";
export { createLogger, LOG_LEVELS } from "./log.ts";
export type { LogLevel, ServerLogger } from "./log.ts";
