// Items put into and taken out of each queue, counted at the edge as `queue/put` and
// `queue/get` answer (alone or in a batch), for the console's rates (`queue/counters`):
// the totals since the server started, and the last RATE_BUCKETS buckets of RATE_BUCKET_MS
// each, so that a page opened now can draw the last five minutes at once. Nothing is
// persisted; a restarted server counts from zero again.
//
// At most QUEUES_COUNTED_MAX queues are tracked: past it, the queue counted least recently
// is forgotten (it starts again from zero if it is counted again), so a server that sees
// millions of short-lived queues keeps a bounded map: 10,000 queues x ~1 KiB of buckets.

export const QUEUES_COUNTED_MAX = 10_000;
/** Width of one bucket of the rate history. */
export const RATE_BUCKET_MS = 5_000;
/** Buckets kept: five minutes. */
export const RATE_BUCKETS = 60;

export interface QueueCount {
  /** Items written by `queue/put` calls that succeeded. */
  putItems: number;
  /** Items handed out by `queue/get` calls. */
  gotItems: number;
  /** When it was read, ms since the epoch (the server's clock). */
  atMs: number;
  /** Oldest first: each bucket's start (ms since the epoch) and the items put and got in it; the last is the current one. */
  history: Array<[startMs: number, putItems: number, gotItems: number]>;
}

interface Counts {
  putItems: number;
  gotItems: number;
  /** Ring of RATE_BUCKETS [put, got] pairs; bucket n lives at slot n % RATE_BUCKETS. */
  readonly ring: Float64Array;
  /** Number (time / RATE_BUCKET_MS) of the latest bucket written to the ring. */
  latest: number;
}

export class QueueCounters {
  /** By queue id; insertion order is the order of the last count, oldest first. */
  private readonly counts = new Map<string, Counts>();

  constructor(
    private readonly queuesMax = QUEUES_COUNTED_MAX,
    private readonly now: () => number = Date.now,
  ) {}

  put(id: string, items: number): void {
    if (items <= 0) return;
    const count = this.touch(id);
    count.putItems += items;
    const at = (count.latest % RATE_BUCKETS) * 2;
    count.ring[at] = count.ring[at]! + items;
  }

  got(id: string, items: number): void {
    if (items <= 0) return;
    const count = this.touch(id);
    count.gotItems += items;
    const at = (count.latest % RATE_BUCKETS) * 2 + 1;
    count.ring[at] = count.ring[at]! + items;
  }

  /** The counts of a queue; zeros for one that was never counted (or was forgotten). */
  read(id: string): QueueCount {
    const atMs = this.now();
    const bucket = Math.floor(atMs / RATE_BUCKET_MS);
    const count = this.counts.get(id);
    if (count !== undefined) roll(count, bucket);
    const history: QueueCount["history"] = [];
    for (let n = bucket - RATE_BUCKETS + 1; n <= bucket; n++) {
      const slot = (n % RATE_BUCKETS) * 2;
      history.push([n * RATE_BUCKET_MS, count?.ring[slot] ?? 0, count?.ring[slot + 1] ?? 0]);
    }
    return { putItems: count?.putItems ?? 0, gotItems: count?.gotItems ?? 0, atMs, history };
  }

  get size(): number {
    return this.counts.size;
  }

  private touch(id: string): Counts {
    const bucket = Math.floor(this.now() / RATE_BUCKET_MS);
    let count = this.counts.get(id);
    if (count !== undefined) {
      this.counts.delete(id);
      roll(count, bucket);
    } else {
      count = { putItems: 0, gotItems: 0, ring: new Float64Array(RATE_BUCKETS * 2), latest: bucket };
      if (this.counts.size >= this.queuesMax) this.counts.delete(this.counts.keys().next().value!);
    }
    this.counts.set(id, count);
    return count;
  }
}

/** Moves a queue's ring on to `bucket`, emptying the buckets passed over (all of them after a long pause). */
function roll(count: Counts, bucket: number): void {
  if (bucket <= count.latest) return;
  const steps = Math.min(bucket - count.latest, RATE_BUCKETS);
  for (let i = 1; i <= steps; i++) {
    const slot = ((count.latest + i) % RATE_BUCKETS) * 2;
    count.ring[slot] = 0;
    count.ring[slot + 1] = 0;
  }
  count.latest = bucket;
}
