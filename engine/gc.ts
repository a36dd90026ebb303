// Garbage collection of dead ranges. Clearing a dict, clearing a big partition or
// deleting an object only writes a small marker in the same atomic batch; the data it
// makes unreachable is deleted here afterwards, a range at a time. Internal numbers are
// never reused, so nothing can be written into a dead range while it is being deleted,
// and a crash halfway leaves the marker in place for the next open to finish the job.

import type { Batch } from "./commit.ts";
import type { Core } from "./core.ts";
import {
  GARBAGE_DICT_DATA,
  GARBAGE_ITEMS,
  GARBAGE_PREFIX,
  dictPrefix,
  garbageKey,
  holdsPrefix,
  itemsPrefix,
  movedPrefix,
  numOfGarbageKey,
  prefixEnd,
  decodeGarbageMarker,
  encodeGarbageMarker,
} from "./layout.ts";
import { backgroundFailed } from "./background.ts";

export class Collector {
  private readonly queue = new Map<number, number>();
  /** Ranges not to collect before this time on the store's clock (format 4: after the request records that name their runs). */
  private readonly notBefore = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly core: Core) {}

  /** Loads the markers a previous process left behind. */
  async load(): Promise<void> {
    for await (const [key, value] of this.core.db.iterator({ gte: GARBAGE_PREFIX, lt: prefixEnd(GARBAGE_PREFIX) })) {
      const num = numOfGarbageKey(key);
      const { kind, notBefore } = decodeGarbageMarker(value);
      this.queue.set(num, kind);
      if (notBefore > 0) this.notBefore.set(num, notBefore);
    }
    this.kick();
  }

  discardDictData(batch: Batch, dataNum: number): void {
    this.mark(batch, dataNum, GARBAGE_DICT_DATA);
  }

  /** `notBefore` (on the store's clock, 0 for now): the range stays until then. */
  discardItems(batch: Batch, partNum: number, notBefore = 0): void {
    this.mark(batch, partNum, GARBAGE_ITEMS, notBefore);
  }

  private mark(batch: Batch, num: number, kind: number, notBefore = 0): void {
    batch.put(garbageKey(num), encodeGarbageMarker(kind, notBefore));
    // Collect only once the marker (and the switch away from the range) is durable.
    batch.onCommitted(() => {
      this.queue.set(num, kind);
      if (notBefore > 0) this.notBefore.set(num, Math.floor(notBefore));
      this.kick();
    });
  }

  private kick(): void {
    if (this.running || this.stopped || this.queue.size === 0) return;
    this.running = this.run().then((more) => {
      this.running = null;
      // After a failure, the next range marked (or the next open) tries again: not at once,
      // which would repeat the failure in a loop.
      if (more) this.kick();
    });
  }

  /** Collects the queued ranges; false when it stopped or one failed (its marker stays). */
  private async run(): Promise<boolean> {
    let later = Infinity;
    for (const [num, kind] of this.queue) {
      if (this.stopped) return false;
      const notBefore = this.notBefore.get(num);
      if (notBefore !== undefined && notBefore > this.core.now()) {
        later = Math.min(later, notBefore);
        continue;
      }
      // A partition's items, and the reservations and dead-letter records that name them.
      const prefixes = kind === GARBAGE_DICT_DATA ? [dictPrefix(num)] : [itemsPrefix(num), holdsPrefix(num), movedPrefix(num)];
      try {
        for (const prefix of prefixes) await this.core.db.clear({ gte: prefix, lt: prefixEnd(prefix) });
        const batch = this.core.batch();
        batch.del(garbageKey(num));
        this.queue.delete(num);
        this.notBefore.delete(num);
      } catch (err) {
        backgroundFailed("collecting a dead range", err, this.core.logError);
        return false;
      }
    }
    if (later !== Infinity && !this.stopped) {
      // Looked at again when the first delayed range is due (or at once after, on a test's clock that jumped).
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.kick(), Math.min(Math.max(later - this.core.now(), 50), 60_000));
      this.timer.unref();
    }
    return later === Infinity;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
