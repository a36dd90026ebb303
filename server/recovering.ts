// The server's engine, which reopens itself after a storage failure. When a batch fails
// to write (disk full, I/O error), the engine stops: its memory may be ahead of the disk.
// An embedded program reopens its store itself (docs/errors.md); a server has no one to do
// that, and one that answered INTERNAL to every call until someone restarted it would be
// down for good. So the server closes the stopped engine and opens the folder again, which
// rebuilds its state from what is on disk, retrying with backoff while that fails (a disk
// still full), and serves again once it opens.
//
// Meanwhile every call is answered 503 UNAVAILABLE, which promises the call did nothing,
// so clients send it again (docs/protocol.md, Retries): calls refused by the stopped
// engine, writes queued behind the failed batch, and waits it released. The calls of the
// failed batch itself keep their INTERNAL: part of that batch may be on disk.

import { openEngine, StorageStoppedError, type Engine, type EngineOptions, type EnvironmentStats } from "../engine/index.ts";
import { ClosedError, InternalError, LarderError, UnavailableError } from "../proto/errors.ts";
import type { Backend, ObjectRecord } from "../proto/backend.ts";
import { CALLS, CALL_NAMES, type CallName } from "../proto/calls.ts";
import type { Limits } from "../proto/limits.ts";

/** Reopening after a failure: first retry after this long, doubling up to the max. */
const REOPEN_DELAY_FIRST_MS = 100;
const REOPEN_DELAY_MAX_MS = 2_000;

export interface RecoveryLog {
  (message: string, error: unknown): void;
}

export class RecoveringEngine implements Engine {
  readonly limits: Limits;
  readonly environment: string;
  /** Every engine it opens is a LevelEngine. */
  readonly appliesRequestIds = true;
  readonly requestIdRetentionMs: number | undefined;
  private current: Engine;
  /** Set from the failure until the reopened engine takes over. */
  private down: { cause: unknown } | undefined;
  private recovery: Promise<void> | undefined;
  private readonly log: RecoveryLog;
  private closed = false;
  /** Times the store was reopened after a storage failure (the server's metrics). */
  reopens = 0;
  private wake: (() => void) | undefined;
  /**
   * Called after each reopen. Ephemeral objects need it: their clients' heartbeats got 503
   * while the store was down, and a reap that failed with the store may have dropped a lease.
   */
  onReopened: (() => Promise<void>) | undefined;

  private constructor(
    first: Engine,
    private readonly options: EngineOptions,
    log: RecoveryLog,
  ) {
    // A logger that throws must not stop the recovery.
    this.log = (message, error) => {
      try {
        log(message, error);
      } catch {
        // nothing else to tell it to
      }
    };
    this.current = first;
    this.limits = first.limits;
    this.environment = first.environment;
    this.requestIdRetentionMs = first.requestIdRetentionMs;
  }

  static async open(options: EngineOptions, log: RecoveryLog): Promise<RecoveringEngine> {
    let self: RecoveringEngine | undefined;
    const first = await RecoveringEngine.openOne(options, (engine, err) => self?.failed(engine, err));
    self = new RecoveringEngine(first.engine, options, log);
    first.ready();
    return self;
  }

  /**
   * Opens one engine whose storage failures reach `onFailure` with the engine that failed,
   * once `ready()` arms it (after the caller has made it current); a failure before that
   * is held and passed on by `ready()`.
   */
  private static async openOne(
    options: EngineOptions,
    onFailure: (engine: Engine, err: unknown) => void,
  ): Promise<{ engine: Engine; ready: () => void }> {
    let armed = false;
    let failedEarly: unknown;
    const engine: Engine = await openEngine({
      ...options,
      onStorageFailure: (err) => {
        if (armed) onFailure(engine, err);
        else failedEarly ??= err;
      },
    });
    return {
      engine,
      ready: () => {
        armed = true;
        if (failedEarly !== undefined) onFailure(engine, failedEarly);
      },
    };
  }

  private failed(engine: Engine, err: unknown): void {
    if (engine !== this.current || this.down || this.closed) return;
    this.down = { cause: err };
    this.log("storage write failed; reopening the store (calls get 503 UNAVAILABLE meanwhile)", err);
    this.recovery = this.recover(engine);
  }

  private async recover(failed: Engine): Promise<void> {
    // Closing releases its waits (ClosedError, answered as UNAVAILABLE below) and frees the folder's lock.
    await failed.close().catch((err: unknown) => this.log("closing the stopped store failed", err));
    let delay = REOPEN_DELAY_FIRST_MS;
    while (!this.closed) {
      try {
        const next = await RecoveringEngine.openOne(this.options, (engine, err) => this.failed(engine, err));
        if (this.closed) {
          await next.engine.close();
          return;
        }
        this.current = next.engine;
        this.down = undefined;
        this.reopens++;
        this.log("store reopened after the storage failure; serving again", undefined);
        next.ready();
        await this.onReopened?.().catch((err: unknown) => this.log("restoring the leases of ephemeral objects after the reopen failed", err));
        return;
      } catch (err) {
        if (this.closed) return;
        this.log(`reopening the store failed; trying again in ${delay} ms`, err);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        delay = Math.min(delay * 2, REOPEN_DELAY_MAX_MS);
      }
    }
  }

  private unavailable(cause: unknown): UnavailableError {
    return new UnavailableError("the server is reopening its store after a storage failure; the call did nothing, send it again", { cause });
  }

  /**
   * Runs a call on the current engine; what the stopped engine refused becomes UNAVAILABLE.
   * `reads` marks a call that changes nothing: if its engine was closed for recovery under
   * it (a scan's iterator closed with the folder, say), whatever it failed with, it did
   * nothing, and becomes UNAVAILABLE too.
   */
  run<T>(call: (engine: Engine) => Promise<T>, reads = false): Promise<T> {
    if (this.down) return Promise.reject(this.unavailable(this.down.cause));
    const engine = this.current;
    return call(engine).catch((err: unknown) => {
      if (err instanceof StorageStoppedError) throw this.unavailable(err);
      const closedUnder = !this.closed && (engine !== this.current || this.down !== undefined);
      // A wait released because its engine closed for recovery (not because the server closes).
      if (err instanceof ClosedError && closedUnder) throw this.unavailable(err);
      if (reads && closedUnder && (!(err instanceof LarderError) || err instanceof InternalError)) throw this.unavailable(err);
      throw err;
    });
  }

  /** True while the store is being reopened after a failure. */
  get recovering(): boolean {
    return this.down !== undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    if (this.recovery) {
      await this.recovery;
      if (this.down) return; // the stopped engine is closed and no new one was opened
    }
    await this.current.close();
  }

  listEphemeral(): Promise<ObjectRecord[]> {
    return this.run((e) => e.listEphemeral(), true);
  }

  /** The current engine's counts; none while it is being reopened. */
  stats(): EnvironmentStats[] {
    return this.down ? [] : (this.current.stats?.() ?? []);
  }
}

// The Backend calls are forwarded as the table of calls lists them (proto/calls.ts): each
// runs on the current engine, and a read-only one that failed because its engine closed
// under it did nothing (run()).
export interface RecoveringEngine extends Pick<Backend, CallName> {}

for (const name of CALL_NAMES) {
  const readOnly = CALLS[name].readOnly;
  Object.defineProperty(RecoveringEngine.prototype, name, {
    value: function forward(this: RecoveringEngine, ...args: unknown[]): Promise<unknown> {
      return this.run((e) => (e[name] as (...a: unknown[]) => Promise<unknown>).apply(e, args), readOnly);
    },
    writable: true,
    configurable: true,
  });
}
