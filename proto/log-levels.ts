// The server's log levels (server/log.ts), named here, with no logger attached, so that
// `larder serve` can check --log-level and list the levels in its help without loading
// the server.

import { InvalidError } from "./errors.ts";

/** The levels, most severe first; `silent` logs nothing. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

export function checkLogLevel(level: unknown, from = "logLevel"): LogLevel {
  if (typeof level === "string" && (LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new InvalidError(`${from} must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(level)}`);
}
