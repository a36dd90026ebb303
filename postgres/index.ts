// The PostgreSQL backend's public door. The package's `open({ postgres })` and the server's
// `startServer({ postgres })` load it only when a connection string is given, so that the
// embedded store never loads `pg`.

import type { OpenOptions } from "../proto/api.ts";
import { InvalidError } from "../proto/errors.ts";
import { resolveLimits } from "../proto/limits.ts";
import { DEFAULT_ENVIRONMENT, validateEnvironment } from "../proto/validate.ts";
import { PostgresEngine } from "./engine.ts";
import { REQUEST_ID_RETENTION_MS_DEFAULT, checkRetention } from "../proto/requests.ts";

export { PostgresEngine } from "./engine.ts";

/** How long an ephemeral object outlives its last heartbeat (or its process) by default: the server's default. */
const EPHEMERAL_EXPIRY_MS_DEFAULT = 300_000;

export interface PostgresOptions extends OpenOptions {
  /**
   * "delete" (the embedded store): this process keeps the ephemeral objects it creates
   * alive and deletes them when it closes; "keep" (a server): only heartbeats keep them.
   */
  ephemeralAtOpen?: "delete" | "keep";
  /** An ephemeral object is deleted after this long without a heartbeat (or its process). */
  ephemeralExpiryMs?: number;
  /** How long the record of an applied request id is kept, in ms (docs/protocol.md, "Request ids"). */
  requestIdRetentionMs?: number;
  /** For tests: how often waits look again without a wake-up (default 1,000 ms). */
  pollIntervalMs?: number;
}

/** Opens the byte-level backend on the database of `options.postgres`. */
export async function openPostgres(options: PostgresOptions): Promise<PostgresEngine> {
  if (options.path !== undefined || options.memory !== undefined) {
    throw new InvalidError("give one of path, memory: true or postgres, not several");
  }
  if (typeof options.postgres !== "string" || !/^postgres(ql)?:\/\//.test(options.postgres)) {
    throw new InvalidError("postgres must be a connection string, postgres://user:password@host:port/database");
  }
  const clock = options.clock ?? { now: () => Date.now() };
  if (typeof clock.now !== "function") throw new InvalidError("clock must have a now() method returning ms");
  const sample: unknown = clock.now();
  if (typeof sample !== "number" || !Number.isFinite(sample)) {
    throw new InvalidError(`clock.now() must return ms since the epoch as a finite number, got ${typeof sample === "number" ? sample : typeof sample}`);
  }
  const keep = options.ephemeralAtOpen ?? "delete";
  if (keep !== "delete" && keep !== "keep") throw new InvalidError('ephemeralAtOpen must be "delete" or "keep"');
  return PostgresEngine.open({
    url: options.postgres,
    clock,
    limits: resolveLimits(options.limits),
    environment: validateEnvironment(options.environment ?? DEFAULT_ENVIRONMENT),
    ephemeralKeptBy: keep === "delete" ? "process" : "heartbeats",
    ephemeralExpiryMs: options.ephemeralExpiryMs ?? EPHEMERAL_EXPIRY_MS_DEFAULT,
    pollIntervalMs: options.pollIntervalMs,
    requestIdRetentionMs: checkRetention(options.requestIdRetentionMs) ?? REQUEST_ID_RETENTION_MS_DEFAULT,
  });
}
