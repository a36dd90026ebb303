// Queue state and operations: put, get, reserve, len and clear over a queue's partitions.
// A partition with items has a persisted row and its items in runs (engine/partition.ts:
// the items of one put are one record under the sequence number of the first,
// docs/format.md), so the head item is one LevelDB get away, a putMany is one write, and
// `len` is kept in memory. An empty partition keeps nothing on disk; its next put starts a
// new incarnation under a new partition number, so old item keys can never be confused
// with new ones.
//
// Reserved items stay in their partition below head (engine/holds.ts, engine/reservations.ts):
// `len` counts them, `get` takes items visible again before those at head. Waiting is in
// engine/waiters.ts; reading without removing (`iterate`) in engine/iterate.ts.

import assert from "node:assert/strict";
import { ClosedError, InternalError, InvalidError, QueueFullError, RequestSizeError, ResourceExhaustedError } from "../proto/errors.ts";
import type { QueueItem, QueueNextRequest, QueuePutRequest, QueueGetRequest, QueueReserveRequest, QueueStats, ReservedItem } from "../proto/backend.ts";
import { checkBytes, validateCount, validatePartition, validateTimeout, validateTtl } from "../proto/validate.ts";
import { waitTicket } from "../proto/tickets.ts";
import type { Batch } from "./commit.ts";
import type { Core } from "./core.ts";
import type { Collector } from "./gc.ts";
import type { Receipt } from "./requests.ts";
import { TTL_ENTRY_VALUE, deadlineAfter, encodeRun, holdKey, itemKey, movedKey, requestAgeKey, sweptRunId, ttlPartitionKey, ttlTime, type PartitionRow } from "./layout.ts";
import type { Held } from "./holds.ts";
import { nextItems } from "./iterate.ts";
import { Partition, sortedIndex, type PartitionName, type PartitionRegistry } from "./partition.ts";
import { insertByTicket, settleWaiter, type GetWaiter, type PutWaiter, type Waiter } from "./waiters.ts";
import { Reservations } from "./reservations.ts";
import { CorruptionError } from "./corruption.ts";
import { setLongTimeout } from "../proto/timer.ts";

/** Partitions with at most this many items are cleared run by run in the batch; bigger ones by a gc marker. */
const CLEAR_INLINE_ITEMS_MAX = 256;
/**
 * A run (the items of one put, stored as one record) holds at most this many items and
 * bytes, so that reading the head of a partition never loads much more than it returns.
 */
const RUN_ITEMS_MAX = 1024;
const RUN_BYTES_MAX = 64 * 1024;
const EMPTY = Buffer.alloc(0);

function checkItems(values: unknown, itemBytesMax: number, itemsMax: number): Uint8Array[] {
  if (!Array.isArray(values)) throw new InvalidError("put takes a list of encoded values");
  for (const v of values) {
    if (!(v instanceof Uint8Array) || v.length === 0) throw new InvalidError("queue items travel as encoded bytes");
    checkBytes("queue item", v.length, itemBytesMax);
  }
  if (values.length > itemsMax) {
    throw new RequestSizeError(
      `putMany of ${values.length} items can never fit: a partition holds at most ${itemsMax} items (queuePartitionItemsMax)`,
    );
  }
  return values as Uint8Array[];
}

export class QueueState {
  readonly partitions = new Map<PartitionName, Partition>();
  /** partitions holding at least one item */
  live = 0;
  /** items in all partitions, expired ones included until they are noticed */
  total = 0;
  /** a lower bound on the earliest expiry among live partitions */
  private minExpiry = Infinity;
  private endedBy: Error | null = null;
  /** Dead-lettered items still here, by where they were before ("partNum.seq"): an ack of their old reservation is refused. */
  readonly origins = new Map<string, { p: Partition; seq: number }>();
  readonly reservations: Reservations;

  constructor(
    readonly core: Core,
    private readonly gc: Collector,
    readonly registry: PartitionRegistry,
    readonly num: number,
    readonly label: string,
  ) {
    this.reservations = new Reservations(this);
  }

  // ---- loading ----

  /** Restores a partition row read at open. */
  restore(name: PartitionName, keyBytes: Buffer, row: PartitionRow): void {
    const p = new Partition(this, name, keyBytes);
    p.num = row.partNum;
    p.head = row.head;
    p.tail = row.tail;
    p.expiresAt = row.expiresAt;
    p.indexedAt = row.indexedAt;
    p.headRun = row.headRun;
    p.persisted = true;
    // A get before the restart may have taken items of the head run by reference, or of
    // runs already gone past head (their request-age rows delete them in time).
    if (p.head > p.headRun) p.kept.add(p.headRun);
    p.referencedAt = this.core.now();
    if (!(p.headRun <= p.head && p.head <= p.tail)) {
      throw new CorruptionError(`a partition row with headRun ${p.headRun}, head ${p.head}, tail ${p.tail}`, `${this.label}, partition ${JSON.stringify(name ?? "")}`);
    }
    // Rows are written only for partitions with items; an empty one is left for the next put to overwrite.
    if (p.tail - p.head + row.held === 0) return;
    this.partitions.set(name, p);
    this.registry.set(p.num, p);
    this.reservations.expectHeld(p, row.held, row.reserved);
    this.live++;
    this.total += p.tail - p.head + row.held;
    this.minExpiry = Math.min(this.minExpiry, p.expiresAt);
  }

  // ---- partitions ----

  lookup(partition: unknown): { name: PartitionName; existing: Partition | undefined } {
    const name = partition === undefined || partition === null ? undefined : partition;
    const existing = this.partitions.get(name as PartitionName);
    if (!existing) validatePartition(name, this.core.limits.queuePartitionKeyBytesMax);
    return { name: name as PartitionName, existing };
  }

  partitionFor(name: PartitionName): Partition {
    let p = this.partitions.get(name);
    if (!p) {
      const keyBytes = name === undefined ? EMPTY : Buffer.from(name, "utf8");
      p = new Partition(this, name, keyBytes);
      this.partitions.set(name, p);
    }
    return p;
  }

  maybeDrop(p: Partition): void {
    if (p.count === 0 && !p.persisted && p.idle && this.partitions.get(p.name) === p) this.partitions.delete(p.name);
  }

  ensureLive(): void {
    if (this.endedBy) throw this.endedBy;
  }

  // ---- item movement ----

  /** `force`: a dead-letter move, which no partition limit may refuse (nothing is dropped for lack of room). */
  append(p: Partition, values: Uint8Array[], ttlMs: number, force = false): Batch {
    if (p.count === 0) {
      const max = this.core.limits.queuePartitionsMax;
      // Partitions past their ttl do not count, even if nothing has noticed yet.
      if (this.live >= max && !force) this.expireAllDue(this.core.now());
      if (this.live >= max && !force) {
        throw new ResourceExhaustedError(`${this.label} already has ${this.live} partitions, the limit (queuePartitionsMax ${max})`);
      }
      p.num = this.core.allocate();
      p.head = 0;
      p.tail = 0;
      this.live++;
      this.registry.set(p.num, p);
    }
    const batch = this.core.batch();
    if (p.count === 0) p.headRun = p.tail;
    const tailBefore = p.tail;
    const firsts: number[] = [];
    for (let i = 0; i < values.length; ) {
      // A run holds up to RUN_ITEMS_MAX items and RUN_BYTES_MAX bytes (a bigger item alone).
      let end = i + 1;
      let bytes = values[i]!.length;
      while (end < values.length && end - i < RUN_ITEMS_MAX && bytes + values[end]!.length <= RUN_BYTES_MAX) bytes += values[end++]!.length;
      const run = i === 0 && end === values.length ? values : values.slice(i, end);
      const first = p.tail;
      batch.put(itemKey(p.num, first), encodeRun(run));
      p.pending.set(first, { values: run, batch });
      firsts.push(first);
      p.tail += run.length;
      i = end;
    }
    // Sequence numbers only grow, by exactly the items written.
    if (p.tail !== tailBefore + values.length) assert.fail(`${this.label}: tail ${p.tail} after putting ${values.length} at ${tailBefore}`);
    const pending = p.pending;
    batch.onCommitted(() => {
      for (const first of firsts) if (pending.get(first)?.batch === batch) pending.delete(first);
    });
    this.total += values.length;
    this.extendExpiry(p, batch, ttlMs);
    this.core.committer.markDirty(p);
    for (const wake of p.watchers) wake();
    p.watchers.clear();
    return batch;
  }

  /**
   * Each put moves the expiry to now + ttl. The ttl index only needs an entry at or before
   * the real expiry: the sweeper re-checks the partition and moves the entry forward, so
   * a put only touches the index when the expiry moves earlier than its entry.
   */
  private extendExpiry(p: Partition, batch: Batch, ttlMs: number): void {
    p.expiresAt = deadlineAfter(this.core.now(), ttlMs);
    this.minExpiry = Math.min(this.minExpiry, p.expiresAt);
    if (p.expiresAt === Infinity) return;
    const at = ttlTime(p.expiresAt);
    if (p.indexedAt !== undefined && p.indexedAt <= at) return;
    if (p.indexedAt !== undefined) batch.del(ttlPartitionKey(p.indexedAt, p.num));
    batch.put(ttlPartitionKey(at, p.num), TTL_ENTRY_VALUE);
    p.indexedAt = at;
  }

  /**
   * Takes up to n items for a get: those visible again first (they are below head), then
   * from head. They leave the partition in `batch`.
   */
  private take(p: Partition, n: number, batch: Batch, refs?: number[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (out.length < n && p.visible.length > 0) {
      const h = p.held.get(p.visible[0]!)!;
      out.push(p.valueOf(h.seq, h.run));
      this.finishHeld(p, h, batch);
    }
    if (out.length < n && p.tail > p.head) this.takeFresh(p, n - out.length, batch, out, undefined, refs);
    return out;
  }

  /**
   * take() for a get, with its request record (engine/requests.ts, "references") when it has
   * a receipt: items visible again are copied into the record; fresh ones are named by their
   * run, offset and count, and their runs stay on disk until the record has expired.
   */
  private takeRecorded(p: Partition, n: number, batch: Batch, receipt: Receipt | undefined): Uint8Array[] {
    if (receipt === undefined) return this.take(p, n, batch);
    const refs: number[] = [];
    const values = this.take(p, n, batch, refs);
    let named = 0;
    for (let i = 2; i < refs.length; i += 3) named += refs[i]!;
    const copied = values.length - named;
    receipt(batch, values, { c: values.slice(0, copied), p: p.num, r: refs });
    return values;
  }

  /**
   * A run record leaves: now, or, when a request record may name it (p.kept), once those
   * records have expired: a request-age row of its own (engine/requests.ts) deletes it then.
   */
  dropRun(p: Partition, first: number, batch: Batch): void {
    if (p.kept.delete(first)) batch.put(requestAgeKey(this.core.now(), sweptRunId(p.num, first)), TTL_ENTRY_VALUE);
    else batch.del(itemKey(p.num, first));
  }

  /**
   * Moves head over up to n items, pushing their values to `out`. With `hold`, each item
   * stays in the partition, held by it; without, the items leave the partition.
   */
  takeFresh(p: Partition, n: number, batch: Batch, out: Uint8Array[], hold: ((seq: number, run: number) => void) | undefined, refs?: number[]): void {
    const k = Math.min(n, p.tail - p.head);
    const countBefore = p.count;
    if (refs !== undefined) p.referencedAt = this.core.now();
    let i = 0;
    while (i < k) {
      const first = p.headRun;
      const run = p.runAt(first).values;
      const offset = p.head - first;
      const m = Math.min(k - i, run.length - offset);
      for (let j = 0; j < m; j++) out.push(run[offset + j]!);
      if (refs !== undefined) {
        refs.push(first, offset, m);
        p.kept.add(first);
      }
      if (hold) {
        for (let j = 0; j < m; j++) hold(p.head + j, first);
        p.runRefs.set(first, (p.runRefs.get(first) ?? 0) + m);
      } else if (p.moved.size > 0) {
        for (let j = 0; j < m; j++) this.forgetMoved(p, p.head + j, batch);
      }
      i += m;
      p.head += m;
      if (p.head === first + run.length) {
        // The whole run is past head: its record goes, unless held items are still in it.
        if (!p.runRefs.has(first)) this.dropRun(p, first, batch);
        if (p.cached?.first === first) p.uncache();
        p.headRun = p.head;
      }
    }
    if (!hold) this.total -= k;
    if (!(p.headRun <= p.head && p.head <= p.tail)) assert.fail(`${this.label}: headRun ${p.headRun}, head ${p.head}, tail ${p.tail} after taking ${k}`);
    if (this.total < 0) assert.fail(`${this.label}: ${this.total} items in all after taking ${k}`);
    if (p.count !== countBefore - (hold ? 0 : k)) assert.fail(`${this.label}: ${p.count} items after taking ${k} of ${countBefore}`);
    if (p.count === 0) this.emptied(p, batch);
    this.core.committer.markDirty(p);
  }

  /** A held item leaves the partition (acked, got, dropped, dead-lettered away) in `batch`. */
  finishHeld(p: Partition, h: Held, batch: Batch): void {
    const group = h.group;
    group.items.delete(h);
    this.core.committer.markDirty(group);
    if (group.items.size === 0) p.groups.delete(group);
    p.held.delete(h.seq);
    if (group.holding) {
      p.reserved--;
    } else {
      const at = sortedIndex(p.visible, h.seq);
      if (p.visible[at] !== h.seq) assert.fail(`${this.label}: visible item ${h.seq} not in the visible list`);
      p.visible.splice(at, 1);
    }
    const refs = p.runRefs.get(h.run)! - 1;
    if (refs > 0) {
      p.runRefs.set(h.run, refs);
    } else {
      p.runRefs.delete(h.run);
      // A run wholly below head goes with its last held item.
      if (h.run < p.headRun) {
        this.dropRun(p, h.run, batch);
        if (p.cached?.first === h.run) p.uncache();
      }
    }
    if (p.moved.size > 0) this.forgetMoved(p, h.seq, batch);
    this.total--;
    if (!(p.reserved >= 0 && this.total >= 0)) assert.fail(`${this.label}: reserved ${p.reserved}, total ${this.total} after an item left`);
    if (p.count === 0) this.emptied(p, batch);
    this.core.committer.markDirty(p);
  }

  /** Drops the dead-letter record of an item that leaves the partition. */
  private forgetMoved(p: Partition, seq: number, batch: Batch): void {
    const record = p.moved.get(seq);
    if (!record) return;
    p.moved.delete(seq);
    batch.del(movedKey(p.num, seq));
    for (const [num, s] of record.origins) this.origins.delete(`${num}.${s}`);
  }

  private emptied(p: Partition, batch: Batch): void {
    if (!(p.held.size === 0 && p.reserved === 0 && p.visible.length === 0)) assert.fail(`${this.label}: an empty partition with held items`);
    this.live--;
    this.registry.delete(p.num);
    if (p.indexedAt !== undefined) batch.del(ttlPartitionKey(p.indexedAt, p.num));
    p.indexedAt = undefined;
    p.expiresAt = Infinity;
    p.pending = new Map();
    p.uncache();
  }

  private clearPartition(p: Partition, batch: Batch): void {
    if (p.count === 0) return;
    if (p.count <= CLEAR_INLINE_ITEMS_MAX) {
      for (let first = p.headRun; first < p.tail; ) {
        const length = p.runAt(first).values.length;
        this.dropRun(p, first, batch);
        first += length;
      }
      for (const first of p.runRefs.keys()) if (first < p.headRun) this.dropRun(p, first, batch);
      for (const seq of p.moved.keys()) batch.del(movedKey(p.num, seq));
    } else {
      // Items, hold and moved records alike, by range (engine/gc.ts); after the request
      // records that may name its runs have expired, when a get with an id took from it.
      const now = this.core.now();
      const referenced = p.kept.size > 0 || (p.referencedAt !== undefined && now - p.referencedAt < this.core.referencesMs);
      this.gc.discardItems(batch, p.num, referenced ? now + this.core.referencesMs : 0);
    }
    p.kept.clear();
    for (const group of p.groups) {
      if (group.persisted) batch.del(holdKey(group.partNum, group.num));
      group.persisted = false;
      group.items.clear();
    }
    for (const record of p.moved.values()) for (const [num, s] of record.origins) this.origins.delete(`${num}.${s}`);
    this.total -= p.count;
    p.head = p.tail;
    p.held.clear();
    p.visible = [];
    p.reserved = 0;
    p.runRefs.clear();
    p.groups.clear();
    p.moved.clear();
    this.emptied(p, batch);
    this.core.committer.markDirty(p);
  }

  /** Expired items are never returned: every access checks expiry before it reads. */
  expireIfDue(p: Partition, now: number): void {
    if (p.count > 0 && p.expiresAt <= now) {
      this.clearPartition(p, this.core.batch());
      this.settle(p);
    }
  }

  /** Expires every due partition; cheap unless one may be due. */
  private expireAllDue(now: number): void {
    if (this.minExpiry > now) return;
    let min = Infinity;
    for (const p of [...this.partitions.values()]) {
      this.expireIfDue(p, now);
      if (p.count > 0) min = Math.min(min, p.expiresAt);
    }
    this.minExpiry = min;
  }

  /** The sweeper found this partition's ttl entry due. */
  sweep(p: Partition, at: number, now: number, batch: Batch): void {
    batch.del(ttlPartitionKey(at, p.num));
    if (p.indexedAt !== at) return;
    p.indexedAt = undefined;
    if (p.expiresAt <= now) {
      this.expireIfDue(p, now);
      return;
    }
    if (p.expiresAt !== Infinity) {
      p.indexedAt = ttlTime(p.expiresAt);
      batch.put(ttlPartitionKey(p.indexedAt, p.num), TTL_ENTRY_VALUE);
    }
    this.core.committer.markDirty(p);
  }

  /** Serves waiters while they can be served: getters while items exist, putters while room exists. */
  settle(p: Partition): void {
    const max = this.core.limits.queuePartitionItemsMax;
    for (;;) {
      if (p.getters.length > 0 && p.available > 0) {
        const w = p.getters.shift()!;
        settleWaiter(w);
        const batch = this.core.batch();
        let taken: Uint8Array[] | ReservedItem[];
        try {
          if (w.lease) {
            taken = this.reservations.reserveNow(p, w.n, w.lease, batch);
            w.receipt?.(batch, taken);
          } else {
            taken = this.takeRecorded(p, w.n, batch, w.receipt);
          }
        } catch (err) {
          w.reject(err);
          continue;
        }
        batch.done.then(() => w.resolve(taken), (err) => w.reject(err));
        continue;
      }
      if (p.putters.length > 0 && p.count + p.putters[0]!.values.length <= max) {
        const w = p.putters.shift()!;
        settleWaiter(w);
        try {
          const batch = this.append(p, w.values, w.ttlMs);
          w.receipt?.(batch, undefined);
          batch.done.then(() => w.resolve(), (err) => w.reject(err));
        } catch (err) {
          w.reject(err);
        }
        continue;
      }
      break;
    }
    if (p.putters.length === 0 && p.expiryTimer) {
      p.expiryTimer.clear();
      p.expiryTimer = undefined;
    }
    this.maybeDrop(p);
  }

  /**
   * Putters wait for room in `p`: when it expires, its items go and they get in, at that
   * moment rather than at the sweeper's next pass (up to a second later).
   */
  private wakePuttersAtExpiry(p: Partition, atLeastMs = 0): void {
    if (p.expiryTimer || p.expiresAt === Infinity || p.putters.length === 0) return;
    p.expiryTimer = setLongTimeout(
      () => {
        p.expiryTimer = undefined;
        if (this.endedBy) return;
        try {
          this.expireIfDue(p, this.core.now());
        } catch (err) {
          // A store that stopped after a storage failure: its waiters hear of it from close.
          if (!(err instanceof ClosedError) && !(err instanceof InternalError)) throw err;
          return;
        }
        // Not due yet by the store's clock (a test's clock that runs slow): look again later.
        this.wakePuttersAtExpiry(p, 50);
      },
      Math.max(atLeastMs, p.expiresAt - this.core.now()),
      true,
    );
  }

  wait<W extends Waiter>(p: Partition, list: W[], w: W, timeoutMs: number | undefined, onTimeout: () => void): void {
    insertByTicket(list, w);
    const leave = (): boolean => {
      if (w.done) return false;
      settleWaiter(w);
      list.splice(list.indexOf(w), 1);
      // A putter that gives up may have been holding back smaller puts behind it.
      this.settle(p);
      return true;
    };
    if (timeoutMs !== undefined) {
      w.timer = setLongTimeout(() => {
        if (leave()) onTimeout();
      }, timeoutMs);
    }
    if (w.signal) {
      w.onAbort = () => {
        if (leave()) w.reject(new ClosedError("the wait was cancelled: its handle or store was closed"));
      };
      w.signal.addEventListener("abort", w.onAbort, { once: true });
    }
  }

  private full(p: Partition): QueueFullError {
    const max = this.core.limits.queuePartitionItemsMax;
    return new QueueFullError(`${p.describe()} of ${this.label} is full: it holds at most ${max} items (queuePartitionItemsMax)`);
  }

  // ---- operations ----

  async put(values: Uint8Array[], request: QueuePutRequest, receipt?: Receipt): Promise<void> {
    this.ensureLive();
    this.core.leases.runDue();
    const limits = this.core.limits;
    const { name, existing } = this.lookup(request.partition);
    const ttlMs = validateTtl("partitionTtlMs", request.partitionTtlMs) ?? limits.partitionTtlMs;
    const timeoutMs = validateTimeout("timeoutMs", request.timeoutMs);
    const items = checkItems(values, limits.queueItemBytesMax, limits.queuePartitionItemsMax);
    if (request.signal?.aborted) throw new ClosedError("the wait was cancelled: its handle or store was closed");
    if (items.length === 0) return;
    const p = existing ?? this.partitionFor(name);
    this.expireIfDue(p, this.core.now());
    if (p.putters.length === 0 && p.count + items.length <= limits.queuePartitionItemsMax) {
      let batch: Batch;
      try {
        batch = this.append(p, items, ttlMs);
      } catch (err) {
        this.maybeDrop(p);
        throw err;
      }
      receipt?.(batch, undefined);
      this.settle(p);
      return batch.done;
    }
    if (timeoutMs === 0) {
      this.maybeDrop(p);
      throw this.full(p);
    }
    return new Promise<void>((resolve, reject) => {
      const w: PutWaiter = { values: items, ttlMs, receipt, resolve, reject, ticket: request.ticket ?? waitTicket(), done: false, timer: undefined, signal: request.signal, onAbort: undefined };
      this.wait(p, p.putters, w, timeoutMs, () => reject(this.full(p)));
      // Resumed ahead of the putters waiting now, it may fit where they do not.
      if (p.putters[0] === w) this.settle(p);
      this.wakePuttersAtExpiry(p);
    });
  }

  async get(n: number, request: QueueGetRequest, receipt?: Receipt): Promise<Uint8Array[]> {
    this.ensureLive();
    validateCount("n", n, 1);
    this.core.leases.runDue();
    const { name, existing } = this.lookup(request.partition);
    const timeoutMs = validateTimeout("timeoutMs", request.timeoutMs);
    if (request.signal?.aborted) throw new ClosedError("the wait was cancelled: its handle or store was closed");
    if (existing) this.expireIfDue(existing, this.core.now());
    if (existing && existing.available > 0) {
      const batch = this.core.batch();
      const values = this.takeRecorded(existing, n, batch, receipt);
      this.settle(existing);
      await batch.done;
      return values;
    }
    if (timeoutMs === 0) return [];
    const p = existing ?? this.partitionFor(name);
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const w: GetWaiter = { n, receipt, lease: undefined, resolve: resolve as GetWaiter["resolve"], reject, ticket: request.ticket ?? waitTicket(), done: false, timer: undefined, signal: request.signal, onAbort: undefined };
      this.wait(p, p.getters, w, timeoutMs, () => resolve([]));
    });
  }

  reserve(n: number, request: QueueReserveRequest, receipt?: Receipt): Promise<ReservedItem[]> {
    return this.reservations.reserve(n, request, receipt);
  }

  len(request: { partition?: string; total?: boolean }): number {
    this.ensureLive();
    this.core.leases.runDue();
    const now = this.core.now();
    if (request.total === true) {
      if (request.partition !== undefined && request.partition !== null) {
        throw new InvalidError("Partition must be null when requesting total length.");
      }
      this.expireAllDue(now);
      return this.total;
    }
    const { existing } = this.lookup(request.partition);
    if (!existing) return 0;
    this.expireIfDue(existing, now);
    return existing.count;
  }

  async clear(request: { partition?: string; all?: boolean }, receipt?: Receipt): Promise<void> {
    this.ensureLive();
    this.core.leases.runDue();
    if (request.all === true) {
      if (request.partition !== undefined && request.partition !== null) {
        throw new InvalidError("Partition must be null when requesting to clear all.");
      }
      const batch = this.core.batch();
      const cleared = [...this.partitions.values()];
      for (const p of cleared) this.clearPartition(p, batch);
      // The record goes into the batch before waiters are served: a throw there must not
      // leave the clear written without it (a retry would clear again).
      receipt?.(batch, undefined);
      for (const p of cleared) this.settle(p);
      return batch.done;
    }
    const { existing } = this.lookup(request.partition);
    if (!existing) return;
    const batch = this.core.batch();
    this.clearPartition(existing, batch);
    receipt?.(batch, undefined);
    this.settle(existing);
    return batch.done;
  }

  /** Reads without removing (engine/iterate.ts). */
  next(request: QueueNextRequest): Promise<QueueItem[]> {
    return nextItems(this, request);
  }

  stats(): QueueStats {
    this.ensureLive();
    this.core.leases.runDue();
    this.expireAllDue(this.core.now());
    return { partitions: this.live, items: this.total };
  }

  // ---- ending ----

  /** Deletes every item (object deletion); waiters get `reason`. */
  destroy(batch: Batch, reason: Error): void {
    for (const p of [...this.partitions.values()]) {
      this.clearPartition(p, batch);
      this.core.committer.markDirty(p);
    }
    this.end(reason);
  }

  /** Releases every waiter with `reason` and refuses further calls with it. */
  end(reason: Error): void {
    this.endedBy = reason;
    for (const p of this.partitions.values()) {
      p.expiryTimer?.clear();
      p.expiryTimer = undefined;
      for (const w of p.getters.splice(0)) {
        settleWaiter(w);
        w.reject(reason);
      }
      for (const w of p.putters.splice(0)) {
        settleWaiter(w);
        w.reject(reason);
      }
      for (const wake of [...p.watchers]) wake();
    }
  }
}
