// Where the client commands find their server: --url, else LARDER_URL, else the default
// that `larder serve` binds; --token, else LARDER_TOKEN; --env, else LARDER_ENVIRONMENT,
// else the server's default environment (its --env, "main" unless set).
//
// The Store is built as `connect()` builds it, keeping the RemoteBackend at hand: `queue
// list` needs per-queue partition counts, which the Backend has (`queueStats`) and the
// public Queue interface does not. Only the HTTP client is loaded here, never LevelDB.

import type { Store, Backend } from "../../proto/index.ts";
import { DEFAULT_ENVIRONMENT, validateEnvironment } from "../../proto/index.ts";
import { RemoteBackend } from "../../client/index.ts";
import { createStore } from "../../store/index.ts";
import type { OptionSpec, ParsedArgs } from "./args.ts";
import { stringOption } from "./args.ts";
import type { Io } from "./io.ts";

export const DEFAULT_URL = "http://127.0.0.1:7070";

/** Options every client command takes. */
export const CONNECTION_OPTIONS: Record<string, OptionSpec> = {
  env: {
    type: "string",
    short: "e",
    valueName: "ENV",
    help: `Environment to use (default: LARDER_ENVIRONMENT, else the server's default, "${DEFAULT_ENVIRONMENT}" unless it was started with --env).`,
  },
  url: { type: "string", valueName: "URL", help: `Server URL (default: LARDER_URL, else ${DEFAULT_URL}).` },
  token: { type: "string", valueName: "T", help: "Bearer token (default: LARDER_TOKEN). Prefer the variable: flags show in `ps`." },
};

export interface Connection {
  readonly store: Store;
  readonly backend: Backend;
  /** undefined: the server's default environment */
  readonly environment: string | undefined;
}

export interface ConnectionSettings {
  readonly url: string;
  readonly token: string | undefined;
  readonly environment: string | undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export function connectionSettings(args: ParsedArgs, io: Io): ConnectionSettings {
  return {
    url: nonEmpty(stringOption(args, "url")) ?? nonEmpty(io.env["LARDER_URL"]) ?? DEFAULT_URL,
    token: nonEmpty(stringOption(args, "token")) ?? nonEmpty(io.env["LARDER_TOKEN"]),
    environment: optionalEnvironment(nonEmpty(stringOption(args, "env")) ?? nonEmpty(io.env["LARDER_ENVIRONMENT"])),
  };
}

function optionalEnvironment(value: string | undefined): string | undefined {
  return value === undefined ? undefined : validateEnvironment(value);
}

export async function openConnection(settings: ConnectionSettings): Promise<Connection> {
  const backend = await RemoteBackend.connect(settings.url, {
    ...(settings.token === undefined ? {} : { token: settings.token }),
    ...(settings.environment === undefined ? {} : { environment: settings.environment }),
  });
  return { backend, store: createStore(backend, settings.environment), environment: settings.environment };
}

/** Runs `body` with a connection and always closes it. */
export async function withConnection<T>(args: ParsedArgs, io: Io, body: (c: Connection) => Promise<T>): Promise<T> {
  const connection = await openConnection(connectionSettings(args, io));
  try {
    return await body(connection);
  } finally {
    await connection.store.close();
  }
}
