// `larder serve`: the HTTP server on an embedded store, and beside it the framed transport
// (docs/protocol.md) on --wire-port. Prints exactly one line on stdout,
// `listening on http://HOST:PORT`, once it accepts connections (and the framed transport's
// `larder://HOST:PORT` on stderr); on SIGINT or SIGTERM it
// closes gracefully (stops accepting, lets in-flight requests finish, closes the engine)
// and exits 0. A second signal during shutdown exits at once with status 1.
//
// The server module (and with it LevelDB) is imported only here, so that client commands
// start without loading it.

import type { Durability, Limits } from "../../proto/index.ts";
import { DEFAULT_LIMITS, resolveLimits, DEFAULT_ENVIRONMENT, validateEnvironment } from "../../proto/index.ts";
import type { Command, OptionSpec, ParsedArgs } from "./args.ts";
import { booleanOption, listOption, parseNonNegativeInteger, stringOption, UsageError } from "./args.ts";
import type { Io } from "./io.ts";
import { RELAYED_SIGNALS_ENV } from "./node-flags.ts";
import { LOG_LEVELS, PACKAGE_VERSION, type LogLevel } from "../../proto/index.ts";
import type { ServerLogger } from "../../server/index.ts";

const DEFAULT_LOG_LEVEL: LogLevel = "info";

const PATH = "serve";
export const DEFAULT_DATA_DIR = "./larder-data";
const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_PORT = 7070;

type Signal = "SIGINT" | "SIGTERM";

export interface ServeSettings {
  path?: string;
  memory?: boolean;
  postgres?: string;
  host: string;
  port: number;
  /** The framed transport's port; absent with `--no-wire`. */
  wirePort?: number;
  token?: string;
  durability?: Durability;
  limits?: Partial<Limits>;
  ephemeralExpiryMs?: number;
  environment?: string;
  /** The web console at /ui; `--no-ui` turns it off. */
  ui: boolean;
  /** The least severe level logged on stderr (JSON lines, server/log.ts). */
  logLevel: LogLevel;
  /** A log line per answered request. */
  accessLog: boolean;
  /** GET /metrics; `--no-metrics` turns it off. */
  metrics: boolean;
}

/** `--limit name=value`: a positive integer (`_` may group digits), or `Infinity` for partitionTtlMs. */
export function parseLimit(text: string): [keyof Limits, number] {
  const eq = text.indexOf("=");
  const name = text.slice(0, eq);
  if (eq <= 0 || !(name in DEFAULT_LIMITS)) {
    throw new UsageError(
      `--limit takes name=value with one of: ${Object.keys(DEFAULT_LIMITS).join(", ")}; got '${text}'`,
      PATH,
    );
  }
  const raw = text.slice(eq + 1);
  const value = raw === "Infinity" ? Infinity : parseNonNegativeInteger(`--limit ${name}`, raw, PATH);
  return [name as keyof Limits, value];
}

/**
 * The environment variable of every `larder serve` flag (a test keeps this table whole).
 * A flag wins over its variable. Boolean variables take 1/true or 0/false; LARDER_LIMITS
 * takes the values of --limit separated by commas or spaces.
 */
export const SERVE_ENV: Readonly<Record<string, string>> = Object.freeze({
  data: "LARDER_DATA",
  memory: "LARDER_MEMORY",
  postgres: "LARDER_POSTGRES_URL",
  host: "LARDER_HOST",
  port: "LARDER_PORT",
  "wire-port": "LARDER_WIRE_PORT",
  "no-wire": "LARDER_NO_WIRE",
  token: "LARDER_TOKEN",
  durability: "LARDER_DURABILITY",
  limit: "LARDER_LIMITS",
  env: "LARDER_ENVIRONMENT",
  "no-ui": "LARDER_NO_UI",
  "ephemeral-expiry-ms": "LARDER_EPHEMERAL_EXPIRY_MS",
  "log-level": "LARDER_LOG_LEVEL",
  "access-log": "LARDER_ACCESS_LOG",
  "no-metrics": "LARDER_NO_METRICS",
});

/** A setting's text and where it came from (`--port` or `LARDER_PORT`), for error messages. */
interface Given {
  readonly text: string;
  readonly from: string;
}

function given(args: ParsedArgs, io: Io, flag: string): Given | undefined {
  const value = stringOption(args, flag);
  if (value !== undefined) return { text: value, from: `--${flag}` };
  const name = SERVE_ENV[flag]!;
  const env = io.env[name];
  return env === undefined || env === "" ? undefined : { text: env, from: name };
}

/** A boolean flag, or its variable (1/true/0/false). */
function flagOrEnv(args: ParsedArgs, io: Io, flag: string): { on: boolean; fromFlag: boolean } {
  if (booleanOption(args, flag)) return { on: true, fromFlag: true };
  const name = SERVE_ENV[flag]!;
  const env = io.env[name]?.trim().toLowerCase();
  if (env === undefined || env === "" || env === "0" || env === "false") return { on: false, fromFlag: false };
  if (env === "1" || env === "true") return { on: true, fromFlag: false };
  throw new UsageError(`${name} must be 1, true, 0 or false, got '${io.env[name]}'`, PATH);
}

function limitTexts(args: ParsedArgs, io: Io): string[] {
  const flags = listOption(args, "limit");
  if (flags.length > 0) return flags;
  return (io.env[SERVE_ENV["limit"]!] ?? "").split(/[\s,]+/).filter((t) => t !== "");
}

function parseLimits(texts: readonly string[]): Partial<Limits> | undefined {
  if (texts.length === 0) return undefined;
  const limits: Partial<Record<keyof Limits, number>> = {};
  for (const text of texts) {
    const [name, value] = parseLimit(text);
    limits[name] = value;
  }
  try {
    resolveLimits(limits); // checks ranges and relations before anything is opened
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err), PATH);
  }
  return limits;
}

function parseDurability(setting: Given | undefined): Durability | undefined {
  if (setting === undefined) return undefined;
  if (setting.text !== "fsync" && setting.text !== "buffered") {
    throw new UsageError(`${setting.from} must be fsync or buffered, got '${setting.text}'`, PATH);
  }
  return setting.text;
}

function parsePort(setting: Given | undefined): number {
  if (setting === undefined) return DEFAULT_PORT;
  const port = parseNonNegativeInteger(setting.from, setting.text, PATH);
  if (port > 65_535) throw new UsageError(`${setting.from} must be from 0 to 65535, got ${port}`, PATH);
  return port;
}

/**
 * The framed transport's port: --wire-port, else the HTTP port + 1 (7071), or any free
 * port when the HTTP port is 0 (so that servers started with --port 0 never collide).
 * Undefined with --no-wire.
 */
function wirePort(args: ParsedArgs, io: Io, port: number): number | undefined {
  const setting = given(args, io, "wire-port");
  if (flagOrEnv(args, io, "no-wire").on) {
    if (setting?.from === "--wire-port") throw new UsageError("--wire-port and --no-wire cannot be used together", PATH);
    return undefined;
  }
  if (setting !== undefined) return parsePort(setting);
  if (port === 65_535) throw new UsageError("--port 65535 leaves no next port for the framed transport: give --wire-port or --no-wire", PATH);
  return port === 0 ? 0 : port + 1;
}

type Storage = { memory: true } | { path: string } | { postgres: string };

/**
 * Where the data lives: --data, --memory or --postgres. A flag beats every variable;
 * two flags, or (without a flag) two variables, conflict.
 */
function storage(args: ParsedArgs, io: Io): Storage {
  const flagData = stringOption(args, "data");
  const flagPostgres = stringOption(args, "postgres");
  const memory = flagOrEnv(args, io, "memory");
  if (memory.fromFlag && flagData !== undefined) throw new UsageError("--data and --memory cannot be used together", PATH);
  if (flagPostgres !== undefined && (memory.fromFlag || flagData !== undefined)) {
    throw new UsageError("--postgres cannot be used with --data or --memory", PATH);
  }
  if (memory.fromFlag) return { memory: true };
  if (flagData !== undefined) return { path: flagData };
  if (flagPostgres !== undefined) return { postgres: flagPostgres };
  const envData = given(args, io, "data");
  const envPostgres = given(args, io, "postgres");
  const named = [envData && "LARDER_DATA", memory.on && "LARDER_MEMORY", envPostgres && "LARDER_POSTGRES_URL"].filter((n) => n);
  if (named.length > 1) throw new UsageError(`${named.join(" and ")} cannot be used together`, PATH);
  if (memory.on) return { memory: true };
  if (envPostgres !== undefined) return { postgres: envPostgres.text };
  return { path: envData?.text ?? DEFAULT_DATA_DIR };
}

export function serveSettings(args: ParsedArgs, io: Io): ServeSettings {
  const token = given(args, io, "token")?.text;
  const durability = parseDurability(given(args, io, "durability"));
  const limits = parseLimits(limitTexts(args, io));
  const expiry = given(args, io, "ephemeral-expiry-ms");
  const ephemeralExpiryMs = expiry === undefined ? undefined : parseNonNegativeInteger(expiry.from, expiry.text, PATH);
  if (ephemeralExpiryMs === 0) throw new UsageError(`${expiry!.from} must be positive`, PATH);
  const environment = given(args, io, "env")?.text;
  if (environment !== undefined) validateEnvironment(environment);
  const port = parsePort(given(args, io, "port"));
  const wire = wirePort(args, io, port);
  return {
    ...storage(args, io),
    host: given(args, io, "host")?.text ?? DEFAULT_HOST,
    port,
    ...(wire === undefined ? {} : { wirePort: wire }),
    ...(token === undefined ? {} : { token }),
    ...(durability === undefined ? {} : { durability }),
    ...(limits === undefined ? {} : { limits }),
    ...(ephemeralExpiryMs === undefined ? {} : { ephemeralExpiryMs }),
    ...(environment === undefined ? {} : { environment }),
    ui: !flagOrEnv(args, io, "no-ui").on,
    logLevel: parseLogLevel(given(args, io, "log-level")),
    accessLog: flagOrEnv(args, io, "access-log").on,
    metrics: !flagOrEnv(args, io, "no-metrics").on,
  };
}

function parseLogLevel(setting: Given | undefined): LogLevel {
  if (setting === undefined) return DEFAULT_LOG_LEVEL;
  if (!(LOG_LEVELS as readonly string[]).includes(setting.text)) {
    throw new UsageError(`${setting.from} must be one of ${LOG_LEVELS.join(", ")}, got '${setting.text}'`, PATH);
  }
  return setting.text as LogLevel;
}

/**
 * The next stop request: SIGINT or SIGTERM, or, in the child that node-flags.ts started,
 * the signal its parent relayed (its own signals are ignored: the parent relays the same
 * ones) and the parent's end (treated as SIGTERM).
 */
function nextSignal(): Promise<Signal> {
  if (process.env[RELAYED_SIGNALS_ENV] === "1" && process.send !== undefined) return nextRelayedSignal();
  if (!signalsHandled) {
    // Installed once, never removed: removing the last listener gives SIGINT back its default
    // action, so a second Ctrl-C arriving before the next listener (npm forwards the one its
    // process group also got) killed the server mid-shutdown (seen in test/cli/npm-start).
    signalsHandled = true;
    const on = (signal: Signal): void => {
      const waiting = signalWaiters;
      signalWaiters = [];
      for (const resolve of waiting) resolve(signal);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  }
  return new Promise((resolve) => signalWaiters.push(resolve));
}

let signalsHandled = false;
let signalWaiters: Array<(signal: Signal) => void> = [];

/** The same signal again this soon after the first is that one forwarded (npm, a shell), not a second request. */
const DUPLICATE_SIGNAL_MS = 1_000;

const ignore = (): void => {};

function nextRelayedSignal(): Promise<Signal> {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) if (!process.listeners(signal).includes(ignore)) process.on(signal, ignore);
  process.channel?.unref();
  return new Promise((resolve) => {
    const done = (signal: Signal) => {
      process.off("message", onMessage);
      process.off("disconnect", onDisconnect);
      resolve(signal);
    };
    const onMessage = (message: unknown) => {
      const signal = (message as { signal?: unknown } | null)?.signal;
      if (signal === "SIGINT" || signal === "SIGTERM") done(signal);
      else if (signal === "SIGHUP") done("SIGTERM");
    };
    const onDisconnect = () => done("SIGTERM");
    process.on("message", onMessage);
    process.on("disconnect", onDisconnect);
    if (!process.connected) onDisconnect();
  });
}

/** During shutdown, a second stop request exits at once with status 1. */
function exitOnSecondSignal(first: Signal): void {
  const at = Date.now();
  const wait = (): void =>
    void nextSignal().then((signal) => {
      if (signal === first && Date.now() - at < DUPLICATE_SIGNAL_MS) wait();
      else process.exit(1);
    });
  wait();
}

async function run(args: ParsedArgs, io: Io): Promise<number> {
  const settings = serveSettings(args, io);
  // Listen for signals before the server starts, so that one arriving during start-up
  // still shuts it down cleanly instead of killing the process mid-open.
  const stop = nextSignal();
  const { startServer, createLogger } = await import("../../server/index.ts");
  // Every line on stderr is the log's, JSON (docs/ops.md); stdout has the one `listening on` line.
  const logger = createLogger(settings.logLevel, { write: (line: string) => void io.err(line) });
  const starting = startServer({ ...settings, logger });
  const first = await Promise.race([starting.then((server) => ({ server })), stop.then((signal) => ({ signal }))]);
  if ("signal" in first) {
    exitOnSecondSignal(first.signal);
    return stopWhileStarting(first.signal, starting, io, START_WAIT_MS, logger);
  }
  const { server } = first;
  // `wire`: the framed transport's larder:// URL (connect() takes it), absent with --no-wire.
  logger.info({ url: server.url, ...(server.wireUrl === undefined ? {} : { wire: server.wireUrl }), version: PACKAGE_VERSION, storage: storageName(settings) }, "listening");
  await io.out(`listening on ${server.url}\n`);
  const signal = await stop;
  exitOnSecondSignal(signal);
  logger.info({ signal }, `${signal}: shutting down`);
  await server.close();
  logger.info({}, "stopped");
  return 0;
}

/** Where the data lives, for the `listening` line (a PostgreSQL URL is not logged: it may hold a password). */
function storageName(settings: ServeSettings): string {
  if (settings.memory === true) return "memory";
  if (settings.postgres !== undefined) return "postgres";
  return settings.path ?? DEFAULT_DATA_DIR;
}

/** How long a signal during start-up waits for the start to finish before giving up. */
const START_WAIT_MS = 10_000;

/**
 * A signal arrived while the server was starting: let the start finish (it may hold the
 * data folder), close what it opened and exit 0; exit 1 if it does not finish in time.
 * (A second signal exits at once: run() sets that up.)
 */
export async function stopWhileStarting(
  signal: Signal,
  starting: Promise<{ close(): Promise<void> }>,
  io: Io,
  waitMs = START_WAIT_MS,
  logger: ServerLogger = lineLogger(io),
): Promise<number> {
  logger.info({ signal }, `${signal} during start-up: stopping`);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), waitMs)));
  try {
    const server = await Promise.race([starting, late]);
    if (server === "late") {
      logger.error({ waitMs }, `the start did not finish within ${waitMs} ms; exiting`);
      return 1;
    }
    await server.close();
    return 0;
  } finally {
    clearTimeout(timer);
  }
}

/** Plain `larder: message` lines on the command's stderr, for callers that have no logger. */
function lineLogger(io: Io): ServerLogger {
  const line = (_fields: object, message: string): void => void io.err(`larder: ${message}\n`);
  return { error: line, warn: line, info: line, debug: line };
}

/** Each option's help names its environment variable. */
function withEnvNames(options: Record<string, OptionSpec>): Record<string, OptionSpec> {
  return Object.fromEntries(Object.entries(options).map(([flag, spec]) => [flag, { ...spec, help: `${spec.help} [${SERVE_ENV[flag]}]` }]));
}

export const SERVE_COMMAND: Command = {
  path: PATH,
  summary: "Run a Larder server on an embedded store.",
  description:
    "Prints `listening on http://HOST:PORT` when ready; SIGINT or SIGTERM shuts it down gracefully.\n" +
    "Every flag can also come from the environment variable named after it (the flag wins).\n" +
    `The data lives in --data (default ${DEFAULT_DATA_DIR}), in memory with --memory, or in a PostgreSQL database with --postgres URL.\n` +
    "The web console is at http://HOST:PORT/ui/ (log in with the token) unless --no-ui.\n" +
    "The framed transport for the Node.js client (connect(\"larder://HOST:WIRE_PORT\")) is on --wire-port unless --no-wire.",
  positionals: [],
  options: withEnvNames({
    data: { type: "string", valueName: "DIR", help: `Data folder (default ${DEFAULT_DATA_DIR}); created if missing.` },
    memory: { type: "boolean", help: "Keep everything in memory: nothing on disk, nothing survives a restart." },
    postgres: {
      type: "string",
      valueName: "URL",
      help: "Keep the data in this PostgreSQL database; several servers may share it. See docs/postgres.md.",
    },
    host: { type: "string", valueName: "HOST", help: `Interface to bind (default ${DEFAULT_HOST}).` },
    port: { type: "string", valueName: "PORT", help: `TCP port (default ${DEFAULT_PORT}); 0 picks a free one.` },
    "wire-port": {
      type: "string",
      valueName: "PORT",
      help: `TCP port of the framed transport, larder://HOST:PORT (default the HTTP port + 1, ${DEFAULT_PORT + 1}; with --port 0 a free one).`,
    },
    "no-wire": { type: "boolean", help: "Do not serve the framed transport (docs/protocol.md); HTTP alone." },
    token: { type: "string", valueName: "T", help: "Require this bearer token (none when unset)." },
    durability: {
      type: "string",
      valueName: "MODE",
      help: "fsync (default: a write is on disk when acknowledged) or buffered (survives a crash of the process only).",
    },
    limit: {
      type: "string",
      multiple: true,
      valueName: "NAME=VALUE",
      help: "Override a limit, e.g. --limit queuePartitionItemsMax=100; repeatable.",
    },
    env: {
      type: "string",
      valueName: "E",
      help: `Default environment of clients that name none (default "${DEFAULT_ENVIRONMENT}").`,
    },
    "no-ui": { type: "boolean", help: "Do not serve the web console at /ui (docs/console.md)." },
    "ephemeral-expiry-ms": {
      type: "string",
      valueName: "MS",
      help: "Delete an ephemeral object when its client sent no heartbeat for this long (default 300000).",
    },
    "log-level": {
      type: "string",
      valueName: "LEVEL",
      help: `Log on stderr (JSON lines) at this level or more severe: ${LOG_LEVELS.join(", ")} (default ${DEFAULT_LOG_LEVEL}).`,
    },
    "access-log": { type: "boolean", help: "Log a line per answered request (method, path, status, outcome, ms)." },
    "no-metrics": { type: "boolean", help: "Do not serve GET /metrics (Prometheus text format, docs/ops.md)." },
  }),
  run,
};
