// The embedded engine's public door: `openEngine()` opens the byte-level Backend on
// LevelDB. The package's root (index.ts) wraps it in the typed Store as `open()`, and the
// server serves it. The engine depends on proto/ alone.

import type { Durability, OpenOptions } from "../proto/api.ts";
import type { Backend, ObjectRecord } from "../proto/backend.ts";
import { InvalidError } from "../proto/errors.ts";
import { resolveLimits, type Limits } from "../proto/limits.ts";
import { checkRetention } from "../proto/requests.ts";
import { DEFAULT_ENVIRONMENT, validateEnvironment } from "../proto/validate.ts";
import { LevelEngine } from "./engine.ts";
import { openStorage } from "./storage.ts";
import type { EngineObserver, EnvironmentStats } from "./observer.ts";

export { waitTicket } from "../proto/tickets.ts";
export { StorageStoppedError } from "./commit.ts";
export type { EngineObserver, EnvironmentStats } from "./observer.ts";
export { REQUEST_ID_RETENTION_MS_DEFAULT, checkRequestId } from "./requests.ts";

export interface EngineOptions extends OpenOptions {
  /**
   * What to do with ephemeral objects found when the folder opens. The embedded store
   * deletes them (their process is gone); the server keeps them and reaps those whose
   * clients stop sending heartbeats.
   */
  ephemeralAtOpen?: "delete" | "keep";
  /**
   * Called once if a batch fails to write (disk full, I/O error). The engine then refuses
   * every call (StorageStoppedError) until it is closed and opened again.
   */
  onStorageFailure?: (err: unknown) => void;
  /**
   * How long the record of an applied request id is kept, in ms (docs/protocol.md,
   * "Request ids"); at least the clients' whole retry budget.
   */
  requestIdRetentionMs?: number;
  /** Where errors of the background work (ttl sweep, garbage collection, request-id records) go; console.error when unset. */
  logError?: (message: string, error: unknown) => void;
  /** Told of every commit batch written (the server's metrics); called once per batch, never per call. */
  observer?: EngineObserver;
}

export interface Engine extends Backend {
  readonly limits: Limits;
  readonly environment: string;
  /** Ephemeral objects currently stored (the server tracks their heartbeats). */
  listEphemeral(): Promise<ObjectRecord[]>;
  /** Objects, entries, items and waiters by environment; absent where the backend does not keep them in memory. */
  stats?(): EnvironmentStats[];
}

function normalize(options: string | EngineOptions): EngineOptions {
  if (typeof options === "string") return { path: options };
  if (options === null || typeof options !== "object") {
    throw new InvalidError("open takes a folder path or an options object");
  }
  return options;
}

function durabilityOf(value: unknown): Durability {
  if (value === undefined) return "fsync";
  if (value !== "fsync" && value !== "buffered") throw new InvalidError(`durability must be "fsync" or "buffered", got ${String(value)}`);
  return value;
}

/** An embedded engine's default: errors of work with no caller to answer go to stderr. */
function consoleLogError(message: string, error: unknown): void {
  console.error(`larder: ${message}:`, error);
}

/** Opens the byte-level engine on a folder (or in memory). */
export async function openEngine(options: string | EngineOptions): Promise<Engine> {
  const opts = normalize(options);
  const limits = resolveLimits(opts.limits);
  const durability = durabilityOf(opts.durability);
  const environment = validateEnvironment(opts.environment ?? DEFAULT_ENVIRONMENT);
  const clock = opts.clock ?? { now: () => Date.now() };
  if (typeof clock.now !== "function") throw new InvalidError("clock must have a now() method returning ms");
  // Checked once here: a clock giving strings or NaN would make expiry never happen.
  const sample: unknown = clock.now();
  if (typeof sample !== "number" || !Number.isFinite(sample)) {
    throw new InvalidError(`clock.now() must return ms since the epoch as a finite number, got ${typeof sample === "number" ? sample : typeof sample}`);
  }
  const ephemeralAtOpen = opts.ephemeralAtOpen ?? "delete";
  if (ephemeralAtOpen !== "delete" && ephemeralAtOpen !== "keep") throw new InvalidError('ephemeralAtOpen must be "delete" or "keep"');
  if (opts.postgres !== undefined) throw new InvalidError("give one of path, memory: true or postgres, not several");
  const { db, nextNum, folder } = await openStorage(opts);
  try {
    return await LevelEngine.start(
      {
        db,
        clock,
        limits,
        sync: durability === "fsync",
        environment,
        deleteEphemeralAtOpen: ephemeralAtOpen === "delete",
        onStorageFailure: opts.onStorageFailure,
        requestIdRetentionMs: checkRetention(opts.requestIdRetentionMs),
        logError: opts.logError ?? consoleLogError,
        observer: opts.observer,
        folder,
      },
      nextNum,
    );
  } catch (err) {
    await db.close().catch(() => {});
    folder?.close();
    throw err;
  }
}
