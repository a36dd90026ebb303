// One partition of a queue, as the engine keeps it in memory: its persisted row (number,
// head, tail, expiry, head run, held and reserved counts: docs/format.md), its item runs
// (the items of one put are one record under the sequence number of the first; runs not
// durable yet are read from `pending`, the last durable run read stays decoded in
// `cached`), its held items (engine/holds.ts, engine/reservations.ts) and its waiters
// (engine/waiters.ts). Moving items in and out is engine/queues.ts; reading without
// removing, engine/iterate.ts.

import type { Batch, Dirty } from "./commit.ts";
import type { RunHolder } from "./core.ts";
import { CorruptionError, atKey } from "./corruption.ts";
import type { Group, Held } from "./holds.ts";
import { decodeRun, encodePartitionRow, itemKey, partitionKey, type MovedRecord, type PartitionRow } from "./layout.ts";
import type { QueueState } from "./queues.ts";
import type { GetWaiter, PutWaiter } from "./waiters.ts";
import type { LongTimer } from "../proto/timer.ts";

export type PartitionName = string | undefined;

/** A run written by a batch that is not durable yet: read from here, and awaited by readers. */
interface PendingRun {
  values: readonly Uint8Array[];
  batch: Batch;
}

/** A run as a reader sees it; `batch` is set while the run is not durable. */
export interface LoadedRun {
  values: readonly Uint8Array[];
  batch: Batch | undefined;
}

/** Every live partition by its number, for the sweeper. */
export type PartitionRegistry = Map<number, Partition>;

export class Partition implements Dirty, RunHolder {
  num = 0;
  head = 0;
  tail = 0;
  expiresAt = Infinity;
  indexedAt: number | undefined = undefined;
  persisted = false;
  /** first sequence of the run holding the head item (runs cover [headRun, tail)) */
  headRun = 0;
  /** runs not durable yet, by first sequence */
  pending = new Map<number, PendingRun>();
  /** the last durable run read, decoded: gets take the head run a few items at a time */
  cached: { first: number; values: readonly Uint8Array[] } | undefined = undefined;
  readonly getters: GetWaiter[] = [];
  readonly putters: PutWaiter[] = [];
  /** Set while putters wait for room in a partition that expires: its expiry makes room at once. */
  expiryTimer: LongTimer | undefined = undefined;
  readonly watchers = new Set<() => void>();
  /** Items below head still in the partition, by sequence (in sequence order: only ever added at head). */
  readonly held = new Map<number, Held>();
  /** Sequences of held items visible again, ascending: gets and reserves take these first. */
  visible: number[] = [];
  /** Held items under a lease or a release delay. */
  reserved = 0;
  /** Held items per run record (by its first sequence): a run goes only when none is left. */
  readonly runRefs = new Map<number, number>();
  /** Groups holding items of this incarnation. */
  readonly groups = new Set<Group>();
  /** Items at or past head that were dead-lettered here, with their deliveries and origins. */
  readonly moved = new Map<number, MovedRecord>();
  /**
   * Runs that the request record of a get may name (engine/requests.ts, "references"): when
   * one leaves, its record is deleted only after those records expire.
   */
  readonly kept = new Set<number>();
  /** When a get with a request id last took from here (or the store opened), on the store's clock. */
  referencedAt: number | undefined = undefined;

  constructor(
    readonly queue: QueueState,
    readonly name: PartitionName,
    readonly keyBytes: Buffer,
  ) {}

  /** Items in the partition, reserved ones included. */
  get count(): number {
    return this.tail - this.head + this.held.size;
  }

  /** Items a get or reserve can take now. */
  get available(): number {
    return this.tail - this.head + this.visible.length;
  }

  get idle(): boolean {
    return this.getters.length === 0 && this.putters.length === 0 && this.watchers.size === 0;
  }

  describe(): string {
    return this.name === undefined ? "the default partition" : `partition ${JSON.stringify(this.name)}`;
  }

  row(): PartitionRow {
    return { partNum: this.num, head: this.head, tail: this.tail, expiresAt: this.expiresAt, indexedAt: this.indexedAt, headRun: this.headRun, held: this.held.size, reserved: this.reserved };
  }

  flush(batch: Batch): void {
    const key = partitionKey(this.queue.num, this.keyBytes);
    if (this.count > 0) {
      batch.put(key, encodePartitionRow(this.row()));
      this.persisted = true;
    } else if (this.persisted) {
      batch.del(key);
      this.persisted = false;
    }
    this.queue.maybeDrop(this);
  }

  // ---- runs ----

  /** The run whose first sequence is `first`, or undefined if there is none. */
  loadRun(first: number): LoadedRun | undefined {
    const pending = this.pending.get(first);
    if (pending) return pending;
    const core = this.queue.core;
    if (this.cached?.first === first) {
      core.runs.touch(this);
      return { values: this.cached.values, batch: undefined };
    }
    const key = itemKey(this.num, first);
    const record = core.db.getSync(key);
    if (record === undefined) return undefined;
    const values = decodeRun(record, key);
    // A run of one item (a single put) is taken whole by the read that loads it: no need to keep it.
    if (values.length > 1) {
      this.cached = { first, values };
      core.runs.keep(this, record.length);
    }
    return { values, batch: undefined };
  }

  runAt(first: number): LoadedRun {
    const run = this.loadRun(first);
    if (!run) throw new CorruptionError(`no run record at seq ${first}, inside the partition's [headRun, tail) = [${this.headRun}, ${this.tail})`, `${this.queue.label}, ${atKey(itemKey(this.num, first))}`);
    return run;
  }

  /** The value of item `seq` of the run at `run`. */
  valueOf(seq: number, run: number): Uint8Array {
    return this.runAt(run).values[seq - run]!;
  }

  dropCachedRun(): void {
    this.cached = undefined;
  }

  uncache(): void {
    this.cached = undefined;
    this.queue.core.runs.forget(this);
  }
}

/** Where `value` goes in the ascending `list`: the index of the first element not below it. */
export function sortedIndex(list: readonly number[], value: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

