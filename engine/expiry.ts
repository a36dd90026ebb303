// The ttl sweeper. Reads never return expired data on their own (every read compares the
// expiry with the clock); the sweeper is what physically removes it, so that expired
// partitions and entries stop taking space and dict counts drop. It walks the ttl index
// from its start up to the clock's now, in pages, on a timer and whenever `len` of a dict
// with a ttl needs exact counts.

import type { Core } from "./core.ts";
import type { DictState } from "./dicts.ts";
import type { PartitionRegistry } from "./partition.ts";
import { backgroundFailed } from "./background.ts";
import { TTL_PREFIX, decodeTtlKey, ttlBound } from "./layout.ts";

const SWEEP_PAGE_KEYS = 256;

export class Sweeper {
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly core: Core,
    private readonly dictByData: (dataNum: number) => DictState | undefined,
    private readonly partitions: PartitionRegistry,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.sweepDue().catch((err: unknown) => backgroundFailed("the ttl sweep", err, this.core.logError)), intervalMs);
    this.timer.unref();
  }

  /** Sweeps everything due by now; concurrent callers share a pass and a follow-up pass. */
  async sweepDue(): Promise<void> {
    if (this.running) {
      return this.running.then(() => this.sweepDue());
    }
    this.running = this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    // Index entries written by batches still in flight become visible to the iterator first.
    await this.core.committer.barrier();
    const now = this.core.now();
    const iterator = this.core.db.iterator({ gte: TTL_PREFIX, lt: ttlBound(now), values: false });
    try {
      for (;;) {
        if (this.stopped) return;
        const page = await iterator.nextv(SWEEP_PAGE_KEYS);
        if (page.length === 0) return;
        if (this.stopped) return;
        const batch = this.core.batch();
        for (const [key] of page) {
          const ref = decodeTtlKey(key);
          if (ref.kind === "partition") {
            const p = this.partitions.get(ref.partNum);
            if (p) p.queue.sweep(p, ref.at, now, batch);
            else batch.del(key);
          } else {
            this.dictByData(ref.dataNum)?.expire(ref.dictKey, now);
            batch.del(key);
          }
        }
      }
    } finally {
      await iterator.close();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    // A pass in progress ends at its next page; how it ends was already reported to its callers.
    await this.running?.catch(() => {});
  }
}
