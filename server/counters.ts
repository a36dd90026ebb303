// Items put into and taken out of each queue since the server started, counted at the edge
// as `queue/put` and `queue/get` answer (alone or in a batch). The console samples them
// through the read-only route `queue/counters` and draws put and get rates from the
// differences; nothing is persisted, and a restarted server counts from zero again.
//
// At most QUEUES_COUNTED_MAX queues are tracked: past it, the queue counted least recently
// is forgotten (it starts again from zero if it is counted again), so a server that sees
// millions of short-lived queues keeps a bounded map.

export const QUEUES_COUNTED_MAX = 10_000;

export interface QueueCount {
  /** Items written by `queue/put` calls that succeeded. */
  putItems: number;
  /** Items handed out by `queue/get` calls. */
  gotItems: number;
}

export class QueueCounters {
  /** By queue id; insertion order is the order of the last count, oldest first. */
  private readonly counts = new Map<string, QueueCount>();

  constructor(private readonly queuesMax = QUEUES_COUNTED_MAX) {}

  put(id: string, items: number): void {
    if (items > 0) this.touch(id).putItems += items;
  }

  got(id: string, items: number): void {
    if (items > 0) this.touch(id).gotItems += items;
  }

  /** The counts of a queue; zeros for one that was never counted (or was forgotten). */
  read(id: string): QueueCount {
    const count = this.counts.get(id);
    return count === undefined ? { putItems: 0, gotItems: 0 } : { ...count };
  }

  get size(): number {
    return this.counts.size;
  }

  private touch(id: string): QueueCount {
    let count = this.counts.get(id);
    if (count !== undefined) {
      this.counts.delete(id);
    } else {
      count = { putItems: 0, gotItems: 0 };
      if (this.counts.size >= this.queuesMax) this.counts.delete(this.counts.keys().next().value!);
    }
    this.counts.set(id, count);
    return count;
  }
}
