// What every part of the engine shares: the database, the commit pipeline, the clock, the
// limits, and the one counter that hands out internal numbers.

import assert from "node:assert/strict";
import type { Clock } from "../proto/api.ts";
import type { Limits } from "../proto/limits.ts";
import { Committer, type AfterWrite, type Batch, type Db, type Dirty } from "./commit.ts";
import { NEXT_NUM_KEY, encodeU64 } from "./layout.ts";
import { LeaseTimer } from "./holds.ts";
import { backgroundFailed } from "./background.ts";
import type { EngineObserver } from "./observer.ts";

/** Something holding a decoded run in memory that the cache may ask to let go of. */
export interface RunHolder {
  dropCachedRun(): void;
}

/**
 * The bytes of decoded queue runs kept in memory across calls, engine-wide: a partition
 * keeps its head run decoded while gets take it a few items at a time, and the least
 * recently used partition lets go first once the budget is passed.
 */
export class RunCache {
  private bytes = 0;
  private readonly holders = new Map<RunHolder, number>();

  constructor(private readonly budget: number) {}

  /** Records that `holder` now keeps `size` bytes (replacing what it kept before). */
  keep(holder: RunHolder, size: number): void {
    this.forget(holder);
    this.holders.set(holder, size);
    this.bytes += size;
    for (const [oldest, oldSize] of this.holders) {
      if (this.bytes <= this.budget || oldest === holder) break;
      this.holders.delete(oldest);
      this.bytes -= oldSize;
      oldest.dropCachedRun();
    }
  }

  /** Marks `holder` as the most recently used. */
  touch(holder: RunHolder): void {
    const size = this.holders.get(holder);
    if (size === undefined) return;
    this.holders.delete(holder);
    this.holders.set(holder, size);
  }

  forget(holder: RunHolder): void {
    const size = this.holders.get(holder);
    if (size === undefined) return;
    this.holders.delete(holder);
    this.bytes -= size;
  }
}

/** Decoded runs kept across calls, engine-wide. */
const RUN_CACHE_BYTES = 32 * 1024 * 1024;

export class Core implements Dirty {
  readonly committer: Committer;
  readonly runs = new RunCache(RUN_CACHE_BYTES);
  /** Ends reservation leases and release delays at their deadlines (engine/holds.ts). */
  readonly leases: LeaseTimer;
  private next: number;
  /**
   * How long after a get with a request id the record of that id may still name the runs
   * it took from (its retention and a margin): set by the engine (engine/requests.ts).
   */
  referencesMs = 0;

  constructor(
    readonly db: Db,
    readonly clock: Clock,
    readonly limits: Limits,
    sync: boolean,
    nextNum: number,
    onFailure: (err: unknown) => void,
    folder: AfterWrite | undefined,
    /** Errors of background work, which has no caller to answer (background.ts). */
    readonly logError: (message: string, error: unknown) => void = () => {},
    observer?: EngineObserver,
  ) {
    this.committer = new Committer(db, sync, onFailure, sync ? folder : undefined, observer);
    this.next = nextNum;
    this.leases = new LeaseTimer(
      () => this.clock.now(),
      (err) => backgroundFailed("ending leases", err, this.logError),
    );
  }

  /** Removes everything whose ttl has passed (set by the engine to its sweeper). */
  sweepDue: () => Promise<void> = async () => {};

  now(): number {
    return this.clock.now();
  }

  batch(): Batch {
    return this.committer.batch();
  }

  /** A fresh internal number, never handed out before; persisted with the batch that uses it. */
  allocate(): number {
    const num = this.next++;
    if (!(Number.isSafeInteger(num) && this.next > num)) assert.fail(`internal number ${num} is not below the counter ${this.next}`);
    this.committer.markDirty(this);
    return num;
  }

  flush(batch: Batch): void {
    batch.put(NEXT_NUM_KEY, encodeU64(this.next));
  }
}
