// What every part of the engine shares: the database, the commit pipeline, the clock, the
// limits, and the one counter that hands out internal numbers.

import type { Clock } from "../proto/api.ts";
import type { Limits } from "../proto/limits.ts";
import { Committer, type Batch, type Db, type Dirty } from "./commit.ts";
import { NEXT_NUM_KEY, encodeU64 } from "./layout.ts";

export class Core implements Dirty {
  readonly committer: Committer;
  private next: number;

  constructor(
    readonly db: Db,
    readonly clock: Clock,
    readonly limits: Limits,
    sync: boolean,
    nextNum: number,
    onFailure: (err: unknown) => void,
  ) {
    this.committer = new Committer(db, sync, onFailure);
    this.next = nextNum;
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
    this.committer.markDirty(this);
    return num;
  }

  flush(batch: Batch): void {
    batch.put(NEXT_NUM_KEY, encodeU64(this.next));
  }
}
