// Calls applied at most once (docs/protocol.md, "Request ids"). A remote client gives every
// call that changes state an id of its own, and sends the same id again when it retries
// the call after a broken connection. The engine applies an id at most once:
//
// - A call that changes something records its outcome (what it returned) under its id in
//   the same LevelDB batch as the change (a `Receipt`, given to the code that makes the
//   change). So after a crash either both are on disk or neither is: a retry finds the
//   record and gets the first outcome, or finds nothing and the call runs now, for the
//   first time as far as the store is concerned.
// - A call that changed nothing (an error, a put that found its key taken, a get that
//   found no item) records nothing: running it again is the same as running it once,
//   later, and its first answer never reached the client anyway.
// - While an attempt runs, another attempt with its id waits for it and then answers
//   with its outcome, or runs itself if the first changed nothing.
// - A retry (`retry: true`) looks its id up on disk (a synchronous LevelDB get). So does a
//   first attempt that may arrive after its own retry (held up in a proxy, or read late by
//   a busy server), which must not run again: one whose id a retry in this process ran
//   under (kept for the retention window), and any first attempt while the records of a
//   previous process may still be live (the window after an open that found some). Every
//   other first attempt runs without a lookup: its id was never applied, since a client
//   sends a call's id first on its first attempt and marks every later one a retry
//   (bench/request-ids.ts measures what is left of the ids' cost).
//
// Records are kept for `retentionMs` on the store's clock and then pruned by age.

import { ClosedError, InternalError, LarderError } from "../proto/errors.ts";
import { checkRequestId } from "../proto/requests.ts";
import { packEnvelope, unpackEnvelope } from "../proto/wire.ts";
import type { CallOptions } from "../proto/backend.ts";
import type { Batch } from "./commit.ts";
import type { Core } from "./core.ts";
import {
  REQUEST_AGE_PREFIX,
  TTL_ENTRY_VALUE,
  decodeRequestAgeKey,
  decodeRequestRecord,
  decodeRun,
  decodeSweptRunId,
  itemKey,
  prefixEnd,
  encodeRequestRecord,
  requestAgeBound,
  requestAgeKey,
  requestKey,
} from "./layout.ts";

export { REQUEST_ID_LENGTH_MAX, REQUEST_ID_RETENTION_MS_DEFAULT, checkRequestId } from "../proto/requests.ts";

/** Records pruned per batch. */
const PRUNE_PAGE_KEYS = 1_024;
const PRUNE_INTERVAL_MS = 1_000;

/**
 * Records a call's outcome in the batch of its change; given to the code that makes it.
 * `stored`, when given, is what the record holds instead of the outcome: a get's items by
 * reference (`{ c, p, r }`, see resolve()), read back from their runs by a retry.
 */
export type Receipt = (batch: Batch, outcome: unknown, stored?: StoredItems) => void;

/**
 * A get's items as its record holds them (format 4): `c` the values copied (items that were
 * visible again), then for partition `p` the triples `r` = [run, offset, count, ...], each
 * naming `count` items of the run record at sequence `run` from `offset` on. Those run
 * records stay on disk until the record has expired (engine/queues.ts, dropRun).
 */
export interface StoredItems {
  c: Uint8Array[];
  p: number;
  r: number[];
}

/** Past the retention, how much longer after an open first attempts look their ids up. */
const LOOK_UP_ALL_MARGIN_MS = 5_000;
/** The record of an outcome of nothing (a put, a clear): `{}`, as packEnvelope writes `{ o: undefined }`. */
const NO_OUTCOME = packEnvelope({});

/** Past the retention, how much longer a run named by a record stays (engine/queues.ts). */
export const REFERENCES_MARGIN_MS = 5_000;

interface Attempt {
  done: Promise<unknown> | undefined;
  /** Set by the receipt: the call changed something and returned this. */
  outcome: { value: unknown } | undefined;
  settled: boolean;
}

export class RequestLog {
  /** Attempts running now. */
  private readonly attempts = new Map<string, Attempt>();
  /** Ids a retry ran under in this process, with when (store clock), oldest first: their late first attempts look them up. */
  private readonly retried = new Map<string, number>();
  /** Until when (store clock) every first attempt looks its id up: records of a previous process may be live. Set by start(). */
  private lookUpAllUntil = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private pruning: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly core: Core,
    readonly retentionMs: number,
    private readonly logError: (message: string, err: unknown) => void,
  ) {}

  /**
   * Runs `apply` once per request id: `apply` gets a receipt to call in the batch of its
   * change (or undefined without an id). A retry of an applied id gets the first outcome.
   */
  run<T>(call: CallOptions | undefined, apply: (receipt: Receipt | undefined) => Promise<T>, signal?: AbortSignal): Promise<T> {
    // Without an id (the embedded store), nothing is added to the call, not even a promise.
    if (call === undefined || call.requestId === undefined || call.requestId === null) return apply(undefined);
    const id = checkRequestId(call.requestId);
    // The common case, a first attempt of an id never applied: no lookup, no wait.
    if (call.retry !== true && !this.attempts.has(id) && !this.retried.has(id) && this.core.now() >= this.lookUpAllUntil) return this.attempt(id, apply);
    return this.runOnce(call, id, apply, signal);
  }

  /**
   * `signal` is the call's own (a wait's): a retry waiting for its first attempt to settle
   * stops waiting when it is aborted, as the call would, unless that attempt has already
   * taken effect: then its outcome is the answer.
   */
  private async runOnce<T>(call: CallOptions, id: string, apply: (receipt: Receipt | undefined) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    for (;;) {
      const known = this.attempts.get(id);
      if (known === undefined) break;
      // An attempt still running: its outcome may be set (its change is in a batch) but
      // not durable yet, and its batch may still fail. Wait for it.
      if (!known.settled) {
        try {
          await settledOrAborted(known.done, signal);
        } catch (error) {
          // Aborted. A first attempt that has not taken effect is given up with the call;
          // one that has (its outcome is in a batch) is this call's answer too: stopping
          // now would tell the client nothing happened while its items are taken.
          if (known.outcome === undefined) throw error;
          await settledOrAborted(known.done, undefined);
        }
        continue;
      }
      if (known.outcome) return this.replay(call, known.outcome.value as T);
      // It changed nothing (or its batch failed, whose record the disk may still hold).
      this.attempts.delete(id);
      break;
    }
    // Synchronous from here to the attempt's registration: no other attempt can slip in.
    const stored = this.lookup(id);
    if (stored) return this.replay(call, stored.value as T);
    if (call.retry === true) {
      this.retried.delete(id);
      this.retried.set(id, this.core.now());
    }
    return this.attempt(id, apply);
  }

  /** The outcome of an earlier attempt, answered again; the call is marked so (CallOptions.replayed). */
  private replay<T>(call: CallOptions, value: T): T {
    call.replayed = true;
    return value;
  }

  private attempt<T>(id: string, apply: (receipt: Receipt | undefined) => Promise<T>): Promise<T> {
    // Registered before `apply` runs: its change (and receipt) may come before its first await.
    const attempt: Attempt = { done: undefined, outcome: undefined, settled: false };
    this.attempts.set(id, attempt);
    const receipt: Receipt = (batch, outcome, stored) => {
      if (attempt.outcome) throw new InternalError(`request ${id} recorded twice`);
      attempt.outcome = { value: outcome };
      const now = this.core.now();
      const envelope = stored !== undefined ? packEnvelope({ s: stored }) : outcome === undefined ? NO_OUTCOME : packEnvelope({ o: outcome });
      batch.put(requestKey(id), encodeRequestRecord(now, envelope));
      batch.put(requestAgeKey(now, id), TTL_ENTRY_VALUE);
    };
    let done: Promise<T>;
    try {
      done = apply(receipt);
    } catch (err) {
      done = Promise.reject(err);
    }
    attempt.done = done;
    const settle = (failed: boolean): void => {
      // A failed attempt's change did not become durable as far as anyone knows: no outcome
      // to answer from memory (its record, if it reached the disk, answers a retry there).
      if (failed) attempt.outcome = undefined;
      attempt.settled = true;
      // Settled, its record is on disk (if it changed anything): a retry reads it there.
      if (this.attempts.get(id) === attempt) this.attempts.delete(id);
    };
    done.then(
      () => settle(false),
      () => settle(true),
    );
    return done;
  }

  /** The recorded outcome of an applied id, from disk. */
  private lookup(id: string): { value: unknown } | undefined {
    const raw = this.core.db.getSync(requestKey(id));
    if (raw === undefined) return undefined;
    const { outcome } = decodeRequestRecord(raw);
    const envelope = unpackEnvelope(outcome) as { o?: unknown; s?: StoredItems } | undefined;
    if (envelope === null || typeof envelope !== "object") throw new InternalError(`the record of request ${id} does not parse`);
    if (envelope.s !== undefined) return { value: this.resolve(id, envelope.s) };
    return { value: envelope.o };
  }

  /** The items a record names by reference, read from their runs (kept until it expires). */
  private resolve(id: string, stored: StoredItems): Uint8Array[] {
    const { c, p, r } = stored;
    if (!Array.isArray(c) || !Number.isSafeInteger(p) || !Array.isArray(r) || r.length % 3 !== 0) throw new InternalError(`the record of request ${id} does not parse`);
    const values = [...c];
    for (let i = 0; i < r.length; i += 3) {
      const key = itemKey(p, r[i]!);
      const raw = this.core.db.getSync(key);
      if (raw === undefined) throw new InternalError(`the items of request ${id} are gone from run ${r[i]} of partition ${p}`);
      const run = decodeRun(raw, key);
      const offset = r[i + 1]!;
      const count = r[i + 2]!;
      if (offset + count > run.length) throw new InternalError(`the record of request ${id} names items past the end of run ${r[i]} of partition ${p}`);
      for (let j = offset; j < offset + count; j++) values.push(run[j]!);
    }
    return values;
  }

  /** Starts pruning; first looks whether a previous process left records (then first attempts look up their ids for a window). */
  async start(): Promise<void> {
    const left = await this.core.db.keys({ gte: REQUEST_AGE_PREFIX, lt: prefixEnd(REQUEST_AGE_PREFIX), limit: 1 }).all();
    this.lookUpAllUntil = left.length > 0 ? this.core.now() + this.retentionMs + LOOK_UP_ALL_MARGIN_MS : -Infinity;
    this.timer = setInterval(() => void this.prune(), PRUNE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Deletes the records older than the retention window; concurrent callers share a pass. */
  prune(): Promise<void> {
    this.pruning ??= this.prunePass()
      .catch((err: unknown) => {
        // A store that is closing or stopped after a storage failure: its next open prunes.
        if (this.stopped || (err instanceof LarderError && (err.code === "CLOSED" || err.code === "INTERNAL"))) return;
        this.logError("larder: pruning request records failed:", err);
      })
      .finally(() => {
        this.pruning = null;
      });
    return this.pruning;
  }

  private async prunePass(): Promise<void> {
    const oldest = this.core.now() - this.retentionMs;
    for (const [id, at] of this.retried) {
      if (at >= oldest) break;
      this.retried.delete(id);
    }
    const bound = requestAgeBound(oldest);
    for (;;) {
      if (this.stopped) return;
      const page = await this.core.db.keys({ gte: REQUEST_AGE_PREFIX, lt: bound, limit: PRUNE_PAGE_KEYS }).all();
      if (page.length === 0 || this.stopped) return;
      const batch = this.core.batch();
      for (const key of page) {
        batch.del(key);
        const { requestId } = decodeRequestAgeKey(key);
        // A run that records named by reference kept on disk (engine/queues.ts, dropRun).
        const run = decodeSweptRunId(requestId);
        if (run === undefined) batch.del(requestKey(requestId));
        else batch.del(itemKey(run.partNum, run.first));
      }
      await batch.done;
      if (page.length < PRUNE_PAGE_KEYS) return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.pruning;
  }
}

const noop = (): void => {};

/** Resolves when `done` settles; rejects as a cancelled wait does if `signal` aborts first. */
function settledOrAborted(done: Promise<unknown> | undefined, signal: AbortSignal | undefined): Promise<void> {
  const settled = done === undefined ? Promise.resolve() : done.then(noop, noop);
  if (signal === undefined) return settled;
  const cancelled = (): ClosedError => new ClosedError("the wait was cancelled: its handle or store was closed");
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(cancelled());
    signal.addEventListener("abort", onAbort, { once: true });
    void settled.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
