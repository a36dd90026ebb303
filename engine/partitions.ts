// Listing a queue's partitions (`queuePartitions`, spec "Partitions, inspected"): pages of
// partition rows (0x20, docs/format.md) in key order, read from LevelDB by a range over the
// queue's rows, never from its items. A row's key order is its partition key's UTF-8 byte
// order, and the default partition's key is empty, so it comes first. Each row found is
// then read from the queue's in-memory state, which is ahead of the disk by the batches not
// yet written: its length, reserved count and expiry are the live ones, and a partition
// emptied or expired since its row was written is left out.

import type { PartitionInfo, QueuePartitionsPage, QueuePartitionsRequest } from "../proto/backend.ts";
import { PARTITIONS_PAGE_MAX, validatePartitionsPage } from "../proto/validate.ts";
import type { Core } from "./core.ts";
import { partitionKey, prefixEnd } from "./layout.ts";
import type { Partition } from "./partition.ts";
import type { QueueState } from "./queues.ts";

const EMPTY = Buffer.alloc(0);

/** `reserved` is the partition's own count (engine/holds.ts), kept in its row too. */
function infoOf(p: Partition): PartitionInfo {
  return { partition: p.name, len: p.count, reserved: p.reserved, expiresAt: p.expiresAt };
}

export async function listPartitions(core: Core, queue: QueueState, request: QueuePartitionsRequest): Promise<QueuePartitionsPage> {
  const { limit, after } = validatePartitionsPage(request, core.limits.queuePartitionKeyBytesMax);
  // Rows are written with the batch that changes them: let every batch submitted so far land first.
  await core.committer.barrier();
  const first = partitionKey(queue.num, EMPTY);
  const iterator = core.db.iterator({
    ...(after === undefined ? { gte: first } : { gt: partitionKey(queue.num, after) }),
    lt: prefixEnd(first),
  });
  const partitions: PartitionInfo[] = [];
  try {
    for (;;) {
      const rows = await iterator.nextv(Math.min(limit - partitions.length + 1, PARTITIONS_PAGE_MAX));
      if (rows.length === 0) return { partitions, more: false };
      // Leases and release delays due by the store's clock end first, as in every call.
      core.leases.runDue();
      const now = core.now();
      for (const [key] of rows) {
        if (partitions.length >= limit) return { partitions, more: true };
        const keyBytes = key.subarray(9);
        const p = queue.partitions.get(keyBytes.length === 0 ? undefined : keyBytes.toString("utf8"));
        // Emptied or expired since the row was written (an expired one is never shown, swept or not).
        if (p === undefined || p.count === 0 || p.expiresAt <= now) continue;
        partitions.push(infoOf(p));
      }
    }
  } finally {
    await iterator.close();
  }
}
