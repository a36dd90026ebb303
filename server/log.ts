// The server's log: one JSON object per line on stderr (pino), so that a log collector
// reads it without a parser of its own. stdout stays the one `listening on URL` line that
// scripts read. Each line has `level` (a name), `time` (ISO 8601), `msg`, and the fields
// of its event: `err` for an error (type, message, stack), the request's fields for an
// access-log line. docs/ops.md lists the events.
//
// The logger is pino's: its serializers and level checks are well kept and fast, and a
// line below the level costs one comparison.

import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "../proto/log-levels.ts";

export { LOG_LEVELS, checkLogLevel, type LogLevel } from "../proto/log-levels.ts";

/** What the server logs through: a pino logger, or anything with these methods. */
export interface ServerLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/**
 * A logger at `level` writing to `destination` (default: stderr, written at once, so that
 * nothing is lost when the process exits right after a line).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: stdSerializers.err },
    },
    destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/** The `logError` of the server options, through a logger: an error at `error`, a note without one at `info`. */
export function logErrorTo(logger: ServerLogger): (message: string, error: unknown) => void {
  return (message, error) => {
    if (error === undefined) logger.info({}, message);
    else logger.error({ err: error }, message);
  };
}
