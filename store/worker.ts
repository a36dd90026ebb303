// `q.process(handler, options)` (spec "Reliable delivery: reservations"): a worker over the
// Reservation API, the same on every backend because it only calls `reserve`, `ack`,
// `release` and `extend`.
//
// It keeps at most `concurrency` handlers running, and reserves only as many items as it has
// free slots, so every reservation it holds is running (except in the moment between a
// reserve that answers and a `close()` that came first: those are released at once). While
// a handler runs, its lease is extended every half lease. A handler that resolves acks; one
// that throws releases with a delay of min(1 s * 2^(deliveries - 1), 5 min), and the engine
// dead-letters an item past `maxDeliveries` when its lease ends (the options go with each
// reserve). Failures go to `onError(error, reservation)`: a handler's error with its
// reservation, the worker's own (reserve, ack, release, extend) with undefined; without
// `onError` they are logged.
//
// Time: leases are on the store's clock, the extension timer on this process's; both run at
// the same rate, so extending every leaseMs / 2 keeps a lease alive with half a lease to spare.

import { ClosedError, InvalidError, NotFoundError } from "../proto/errors.ts";
import type { QueueProcessOptions, QueueWorker, Reservation, ReservationHandler } from "../proto/api.ts";

/** The default lease of `process`, as of `reserve`. */
const LEASE_MS_DEFAULT = 30_000;
/** A handler that throws: its item comes back after this, doubled per delivery, up to the max. */
export const RETRY_DELAY_FIRST_MS = 1_000;
export const RETRY_DELAY_MAX_MS = 5 * 60_000;
/** A reserve that failed for a reason that may pass (a server away) is tried again after this, doubling. */
const RESERVE_RETRY_FIRST_MS = 100;
const RESERVE_RETRY_MAX_MS = 5_000;
/** More handlers at once than this is a mistake, not a configuration. */
const CONCURRENCY_MAX = 10_000;

/** The delay of the release after a handler threw, for an item delivered `deliveries` times. */
export function retryDelayMs(deliveries: number): number {
  return Math.min(RETRY_DELAY_FIRST_MS * 2 ** Math.max(0, deliveries - 1), RETRY_DELAY_MAX_MS);
}

/** What the worker needs of its queue: a reserve that `close()` can cancel. */
export interface ReserveSource<T> {
  /** 1..n reservations as soon as one item is there; rejects with ClosedError once `signal` aborts. */
  reserve(n: number, options: ReserveOptions, signal: AbortSignal): Promise<Array<Reservation<T>>>;
  /** "Queue 'jobs'", for log lines. */
  readonly label: string;
}

export interface ReserveOptions {
  leaseMs: number;
  partition?: string;
  maxDeliveries?: number;
  deadLetterPartition?: string;
}

function positiveInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidError(`${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

interface Settings {
  concurrency: number;
  reserve: ReserveOptions;
  onError: ((error: unknown, reservation: Reservation<unknown> | undefined) => void) | undefined;
}

/** Checks `process()`'s options at the call (the engine checks partitions and leaseMsMax at the first reserve). */
function settingsOf(options: QueueProcessOptions<unknown> | undefined): Settings {
  if (options !== undefined && options !== null && (typeof options !== "object" || Array.isArray(options))) {
    throw new InvalidError("the options of process() must be an object");
  }
  const o = options ?? {};
  const concurrency = o.concurrency === undefined ? 1 : positiveInteger("concurrency", o.concurrency, CONCURRENCY_MAX);
  const leaseMs = o.leaseMs === undefined ? LEASE_MS_DEFAULT : positiveInteger("leaseMs", o.leaseMs);
  if (o.deadLetterPartition !== undefined && o.maxDeliveries === undefined) {
    throw new InvalidError("deadLetterPartition goes with maxDeliveries: without it nothing is ever dead-lettered");
  }
  if (o.onError !== undefined && typeof o.onError !== "function") throw new InvalidError("onError must be a function");
  const reserve: ReserveOptions = { leaseMs };
  if (o.partition !== undefined) reserve.partition = o.partition;
  if (o.maxDeliveries !== undefined) reserve.maxDeliveries = positiveInteger("maxDeliveries", o.maxDeliveries);
  if (o.deadLetterPartition !== undefined) reserve.deadLetterPartition = o.deadLetterPartition;
  return { concurrency, reserve, onError: o.onError as Settings["onError"] };
}

/** Errors of reserve that no retry can mend: the worker stops reserving. */
function isPermanent(err: unknown): boolean {
  return err instanceof InvalidError || err instanceof NotFoundError || err instanceof ClosedError;
}

export class Worker<T> implements QueueWorker {
  private readonly settings: Settings;
  private readonly stop = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private slotFreed: (() => void) | undefined;
  private readonly loop: Promise<void>;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly source: ReserveSource<T>,
    private readonly handler: ReservationHandler<T>,
    options: QueueProcessOptions<T> | undefined,
  ) {
    if (typeof handler !== "function") throw new InvalidError("process() takes a handler function");
    this.settings = settingsOf(options as QueueProcessOptions<unknown> | undefined);
    this.loop = this.reserveLoop();
  }

  /** Stops reserving, waits for running handlers (acking or releasing each), then resolves. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stop.abort(new ClosedError("the worker was closed"));
      this.slotFreed?.();
      await this.loop;
      while (this.running.size > 0) await Promise.all([...this.running]);
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  private async reserveLoop(): Promise<void> {
    let retryMs = RESERVE_RETRY_FIRST_MS;
    while (!this.stopped) {
      const free = this.settings.concurrency - this.running.size;
      if (free === 0) {
        await new Promise<void>((resolve) => (this.slotFreed = resolve));
        this.slotFreed = undefined;
        continue;
      }
      let jobs: Array<Reservation<T>>;
      try {
        jobs = await this.source.reserve(free, this.settings.reserve, this.stop.signal);
        retryMs = RESERVE_RETRY_FIRST_MS;
      } catch (err) {
        if (this.stopped) return;
        this.report(err, undefined);
        if (isPermanent(err)) return;
        await this.pause(retryMs);
        retryMs = Math.min(retryMs * 2, RESERVE_RETRY_MAX_MS);
        continue;
      }
      for (const job of jobs) {
        // Reserved after close() began: not started, so back at once.
        if (this.stopped) this.track(this.releaseUnstarted(job));
        else this.track(this.run(job));
      }
    }
  }

  private track(task: Promise<void>): void {
    this.running.add(task);
    void task.finally(() => {
      this.running.delete(task);
      this.slotFreed?.();
    });
  }

  /** Waits `ms`, or less if the worker closes meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stop.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stop.signal.addEventListener("abort", done, { once: true });
    });
  }

  private async releaseUnstarted(job: Reservation<T>): Promise<void> {
    try {
      await job.release();
    } catch (err) {
      this.report(err, undefined);
    }
  }

  private async run(job: Reservation<T>): Promise<void> {
    const stopExtending = this.keepLeased(job);
    let failure: { error: unknown } | undefined;
    try {
      await this.handler(job.value, job);
    } catch (error) {
      failure = { error };
    } finally {
      stopExtending();
    }
    if (failure === undefined) {
      try {
        await job.ack();
      } catch (err) {
        this.report(err, undefined);
      }
      return;
    }
    this.report(failure.error, job);
    try {
      await job.release({ delayMs: retryDelayMs(job.deliveries) });
    } catch (err) {
      this.report(err, undefined);
    }
  }

  /** Extends `job`'s lease every half lease while its handler runs; returns the stop. */
  private keepLeased(job: Reservation<T>): () => void {
    const leaseMs = this.settings.reserve.leaseMs;
    let extending: Promise<void> | undefined;
    const timer = setInterval(() => {
      if (extending) return; // the last extension has not answered yet
      extending = job.extend(leaseMs).then(
        () => (extending = undefined),
        (err: unknown) => {
          // The lease is lost (LEASE_EXPIRED) or the store is gone: no point in trying again.
          clearInterval(timer);
          this.report(err, undefined);
        },
      );
    }, Math.max(1, Math.floor(leaseMs / 2)));
    return () => clearInterval(timer);
  }

  private report(error: unknown, reservation: Reservation<T> | undefined): void {
    const onError = this.settings.onError;
    if (onError) {
      try {
        onError(error, reservation as Reservation<unknown> | undefined);
        return;
      } catch (err) {
        console.error(`larder: the onError of a worker of ${this.source.label} threw:`, err);
      }
    }
    const what = reservation === undefined ? "the worker" : "a handler";
    console.error(`larder: ${what} of ${this.source.label} failed:`, error);
  }
}
