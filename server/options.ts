// Server options: every option of `open()` (they go to the engine unchanged) plus the
// network, auth, long-poll and ephemeral-lease settings below, with their defaults in
// one documented object.

import { validateToken } from "../proto/validate.ts";
import type { EngineOptions } from "../engine/index.ts";
import { InvalidError } from "../proto/errors.ts";
import { REQUEST_ID_RETENTION_MS_DEFAULT, checkRetention, longPollAllowedMs } from "../proto/requests.ts";
import { CEILINGS } from "../proto/limits.ts";
import { checkLogLevel, createLogger, logErrorTo, type LogLevel, type ServerLogger } from "./log.ts";

export interface ServerOptions extends Omit<EngineOptions, "ephemeralAtOpen" | "observer"> {
  /** Interface to bind. */
  host?: string;
  /** TCP port; 0 binds any free port (read it back from `url`). */
  port?: number;
  /**
   * TCP port of the framed transport (docs/protocol.md, "The framed transport"), served
   * beside HTTP on the same host; 0 binds any free port (read it from `wireUrl`). Off unless
   * given; `larder serve` serves it on 7071 unless `--no-wire`.
   */
  wirePort?: number;
  /** When set, every route but the health route needs `Authorization: Bearer <token>`. */
  token?: string;
  /** An ephemeral object is deleted when no heartbeat arrived for this long. */
  ephemeralExpiryMs?: number;
  /** How often the reaper looks for expired ephemeral objects. */
  reapIntervalMs?: number;
  /** The longest a single request waits (queue get, queue next, put into a full partition). */
  longPollMaxMs?: number;
  /** Upper bound on any request body, whatever the limits allow. */
  requestBytesMax?: number;
  /** How long `close()` lets in-flight requests finish before it cuts their connections. */
  closeGraceMs?: number;
  /** Serve the web console at /ui (docs/console.md); `larder serve` turns it on unless `--no-ui`. */
  ui?: boolean;
  /** Where internal errors (and the store's reopening after a storage failure) are reported; they are never sent to clients. Default: the log, at `error`. */
  logError?: (message: string, error: unknown) => void;
  /** The least severe level logged (server/log.ts): fatal, error, warn, info, debug, trace or silent. */
  logLevel?: LogLevel;
  /** Log one line per answered request at `info` (method, path, status, outcome, ms). */
  accessLog?: boolean;
  /** Where the log goes: a pino logger or anything with its error/warn/info/debug methods. Default: JSON lines on stderr at `logLevel`. */
  logger?: ServerLogger;
  /** Serve GET /metrics (Prometheus text format, behind the token; docs/ops.md) and count what it reports. */
  metrics?: boolean;
}

/** The defaults of the server's own options. */
export const SERVER_DEFAULTS = Object.freeze({
  /** Loopback only: exposing the server is a deliberate choice. */
  host: "127.0.0.1",
  port: 7070,
  /** undefined: no framed transport (`larder serve`: 7071). */
  wirePort: undefined as number | undefined,
  token: undefined as string | undefined,
  /** "A few minutes": ten missed heartbeats at the client's default 30 s interval. */
  ephemeralExpiryMs: 300_000,
  /** undefined: a quarter of ephemeralExpiryMs, at most 10 s. */
  reapIntervalMs: undefined as number | undefined,
  /** Under Modal's 50 s, and well under the 300 s that HTTP clients and proxies commonly allow. */
  longPollMaxMs: 30_000,
  /**
   * 256 MiB: room for the largest dict value (100 MiB) or a putMany of 1,000 full-size
   * items, while a handful of garbage or hostile uploads cannot exhaust the server's
   * memory. An atomic putMany of a whole partition of 256 KiB items (1.25 GiB) needs a
   * larger value; the ceiling is 1 GiB.
   */
  requestBytesMax: 256 * 1024 * 1024,
  /** Long enough for a large in-flight write to commit. */
  closeGraceMs: 10_000,
  /** Off for programs that embed the server; `larder serve` serves it unless `--no-ui`. */
  ui: false,
  /** Errors, warnings and notes such as the store reopening; `debug` adds more. */
  logLevel: "info" as LogLevel,
  /** Off: a line per request is for debugging, not for every server. */
  accessLog: false,
  /** On: counting costs the request path nothing measurable (docs/benchmarks.md, bench/http.ts --ab). */
  metrics: true,
});

/**
 * The longest long-poll a server may be configured with: clients give up on an answer after
 * 300 s (undici's default, and the Node.js client's), so a long-poll must end well before.
 */
export const LONG_POLL_CEILING_MS = 240_000;

export interface ResolvedServerOptions {
  readonly host: string;
  readonly port: number;
  readonly wirePort: number | undefined;
  readonly token: string | undefined;
  readonly ephemeralExpiryMs: number;
  readonly reapIntervalMs: number;
  readonly longPollMaxMs: number;
  readonly requestBytesMax: number;
  readonly closeGraceMs: number;
  readonly ui: boolean;
  readonly logError: (message: string, error: unknown) => void;
  readonly logger: ServerLogger;
  /** The logger of the access log; undefined when it is off. */
  readonly accessLog: ServerLogger | undefined;
  readonly metrics: boolean;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidError(`${name} must be a positive number of ms or bytes, got ${String(value)}`);
  }
  return value;
}

/** The stderr logger of each level, made once: every server of a process at one level shares it. */
const stderrLoggers = new Map<LogLevel, ServerLogger>();

function stderrLogger(level: LogLevel): ServerLogger {
  let logger = stderrLoggers.get(level);
  if (logger === undefined) stderrLoggers.set(level, (logger = createLogger(level)));
  return logger;
}

function checkPort(name: string, port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidError(`${name} must be an integer from 0 to 65535, got ${String(port)}`);
  }
  return port;
}

export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  const port = checkPort("port", options.port ?? SERVER_DEFAULTS.port);
  const wirePort = options.wirePort === undefined || options.wirePort === null ? undefined : checkPort("wirePort", options.wirePort);
  const token = validateToken(options.token ?? SERVER_DEFAULTS.token);
  const ephemeralExpiryMs = positive("ephemeralExpiryMs", options.ephemeralExpiryMs, SERVER_DEFAULTS.ephemeralExpiryMs);
  const reapDefault = Math.min(10_000, Math.max(10, ephemeralExpiryMs / 4));
  // A long-poll round broken near its end is retried under its request id: the retry must
  // reach the server within the record's retention (docs/protocol.md, "Retries"). Without
  // longPollMaxMs, a short retention shortens the rounds; a longPollMaxMs past it is refused.
  const retention = checkRetention(options.requestIdRetentionMs) ?? REQUEST_ID_RETENTION_MS_DEFAULT;
  const allowed = longPollAllowedMs(retention);
  const longPollMaxMs = positive("longPollMaxMs", options.longPollMaxMs, Math.max(1, Math.min(SERVER_DEFAULTS.longPollMaxMs, allowed)));
  if (longPollMaxMs > LONG_POLL_CEILING_MS) {
    throw new InvalidError(`longPollMaxMs may not exceed ${LONG_POLL_CEILING_MS} ms (clients give up after 300 s), got ${longPollMaxMs}`);
  }
  if (options.longPollMaxMs !== undefined && longPollMaxMs > allowed) {
    throw new InvalidError(
      `longPollMaxMs (${longPollMaxMs} ms) is too long for requestIdRetentionMs (${retention} ms): a long-poll broken near its end could not be retried ` +
        `within the retention; with this retention longPollMaxMs may be at most ${allowed} ms (raise requestIdRetentionMs, or lower longPollMaxMs)`,
    );
  }
  const level = checkLogLevel(options.logLevel ?? SERVER_DEFAULTS.logLevel);
  const logger = options.logger ?? stderrLogger(level);
  return {
    host: options.host ?? SERVER_DEFAULTS.host,
    port,
    wirePort,
    token,
    ephemeralExpiryMs,
    reapIntervalMs: positive("reapIntervalMs", options.reapIntervalMs, reapDefault),
    longPollMaxMs,
    requestBytesMax: Math.min(
      positive("requestBytesMax", options.requestBytesMax, SERVER_DEFAULTS.requestBytesMax),
      CEILINGS.bytesMax,
    ),
    closeGraceMs: positive("closeGraceMs", options.closeGraceMs, SERVER_DEFAULTS.closeGraceMs),
    ui: options.ui ?? SERVER_DEFAULTS.ui,
    logError: options.logError ?? logErrorTo(logger),
    logger,
    accessLog: (options.accessLog ?? SERVER_DEFAULTS.accessLog) ? logger : undefined,
    metrics: options.metrics ?? SERVER_DEFAULTS.metrics,
  };
}

/** The options that go to the engine: everything of `open()`, nothing of the server's. */
export function engineOptions(options: ServerOptions): EngineOptions {
  const {
    host: _host,
    port: _port,
    wirePort: _wirePort,
    token: _token,
    ephemeralExpiryMs: _expiry,
    reapIntervalMs: _reap,
    longPollMaxMs: _poll,
    requestBytesMax: _bytes,
    closeGraceMs: _grace,
    ui: _ui,
    logError: _log,
    logLevel: _level,
    accessLog: _access,
    logger: _logger,
    metrics: _metrics,
    ...engine
  } = options;
  return { ...engine, ephemeralAtOpen: "keep" };
}
