// `iterate` (the backend's queueNext): reads a partition from its head without removing
// anything, in pages named by cursors, and waits up to `pollTimeoutMs` for items put while
// iterating. Held items come first (they are below head, in their place), then the items
// from head. A cursor is "partNum.seq.run": an item, and the first sequence of its run, so
// the next page starts from that run's record without a search.

import type { QueueItem, QueueNextRequest } from "../proto/backend.ts";
import { InvalidError } from "../proto/errors.ts";
import { setLongTimeout } from "../proto/timer.ts";
import { validateCount, validateTimeout } from "../proto/validate.ts";
import type { Batch } from "./commit.ts";
import type { Partition } from "./partition.ts";
import type { QueueState } from "./queues.ts";

/** A page of `iterate` stops at this many value bytes even if `limit` items were not reached. */
const PEEK_PAGE_BYTES_MAX = 8 * 1024 * 1024;

/** A cursor names an item: its partition number, its sequence and the first sequence of its run. */
interface Cursor {
  num: number;
  seq: number;
  run: number;
}

function notIssued(): InvalidError {
  return new InvalidError("iterate cursor is not one this server issued");
}

function parseCursor(cursor: unknown): Cursor | undefined {
  if (cursor === undefined || cursor === null) return undefined;
  const m = typeof cursor === "string" ? /^(\d{1,16})\.(\d{1,16})\.(\d{1,16})$/.exec(cursor) : null;
  if (!m) throw notIssued();
  const parsed = { num: Number(m[1]), seq: Number(m[2]), run: Number(m[3]) };
  if (parsed.run > parsed.seq) throw notIssued();
  return parsed;
}

/** One page of items after the cursor `request.after`, waiting for one up to `pollTimeoutMs`. */
export async function nextItems(q: QueueState, request: QueueNextRequest): Promise<QueueItem[]> {
  q.ensureLive();
  const { name } = q.lookup(request.partition);
  const limit = validateCount("limit", request.limit, 1);
  const pollMs = validateTimeout("pollTimeoutMs", request.pollTimeoutMs) ?? 0;
  const after = parseCursor(request.after);
  const deadline = Date.now() + pollMs;
  for (;;) {
    q.ensureLive();
    q.core.leases.runDue();
    const p = q.partitions.get(name);
    if (p) q.expireIfDue(p, q.core.now());
    const { items, batch } = p ? peek(p, after, limit) : { items: [], batch: undefined };
    if (items.length > 0) {
      if (batch) await batch.readable;
      return items;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0 || request.signal?.aborted) return [];
    await watch(q, q.partitionFor(name), remaining, request.signal);
    // Released by its handle's close: answered before anything else (an ephemeral queue is deleted right after).
    if (request.signal?.aborted) return [];
  }
}

function peek(p: Partition, after: Cursor | undefined, limit: number): { items: QueueItem[]; batch: Batch | undefined } {
  const resume = after !== undefined && after.num === p.num;
  const items: QueueItem[] = [];
  let batch: Batch | undefined;
  let bytes = 0;
  // Held items first (they are below head, in their place), then from head.
  if (p.held.size > 0) {
    for (const h of p.held.values()) {
      if (items.length >= limit || bytes >= PEEK_PAGE_BYTES_MAX) return { items, batch };
      if (resume && h.seq <= after.seq) continue;
      const run = p.runAt(h.run);
      if (run.batch) batch = run.batch;
      const value = run.values[h.seq - h.run]!;
      items.push({ value, cursor: `${p.num}.${h.seq}.${h.run}` });
      bytes += value.length;
    }
  }
  // Start after the cursor's item, from its run; or at the head if that item is gone.
  const fromCursor = resume && after.seq + 1 > p.head;
  let seq = fromCursor ? after.seq + 1 : p.head;
  let first = fromCursor ? after.run : p.headRun;
  if (fromCursor && first < p.headRun) throw notIssued();
  while (seq < p.tail && items.length < limit && bytes < PEEK_PAGE_BYTES_MAX) {
    const run = p.loadRun(first);
    if (!run) throw notIssued();
    if (seq >= first + run.values.length) {
      first += run.values.length;
      continue;
    }
    if (run.batch) batch = run.batch;
    const value = run.values[seq - first]!;
    items.push({ value, cursor: `${p.num}.${seq}.${first}` });
    bytes += value.length;
    seq++;
  }
  return { items, batch };
}

/** Resolves when something is put into `p`, after `ms`, or when `signal` aborts. */
function watch(q: QueueState, p: Partition, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      timer.clear();
      signal?.removeEventListener("abort", done);
      p.watchers.delete(done);
      q.maybeDrop(p);
      resolve();
    };
    const timer = setLongTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    p.watchers.add(done);
  });
}
