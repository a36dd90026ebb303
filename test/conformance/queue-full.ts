// Full partitions (spec: "a partition holds at most queuePartitionItemsMax items. put/putMany
// into a full partition waits for room as long as timeoutMs allows, then throws
// QueueFullError whose message names the limit. putMany of more items than a partition can
// ever hold is RequestSizeError at once"). A limit of 17 keeps it quick and makes the number
// in the message unambiguous.

import { describe, expect, it } from "vitest";
import type { Queue } from "../../proto/api.ts";
import { QueueFullError, RequestSizeError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { background, collect, PROMPT_MS, sleep, stillPending, timed, TIMER_SLACK_MS, within } from "./waiting.ts";

const LIMIT = 17;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function fullQueue(h: Harness, items = LIMIT): Promise<Queue<number | string>> {
  const store = await h.make({ limits: { queuePartitionItemsMax: LIMIT } });
  const q = await store.queues.ephemeral<number | string>();
  await q.putMany(range(items));
  return q;
}

export function queueFullSuite(h: Harness): void {
  describe("queue: full partitions", () => {
    it("put with timeoutMs 0 into a full partition is QueueFullError at once, and its message names the limit", async () => {
      const q = await fullQueue(h);
      const { ms, error } = await timed(() => q.put("extra", { timeoutMs: 0 }));
      const err = await expectError(Promise.reject(error), QueueFullError);
      expect(err.message).toContain(String(LIMIT));
      expect(ms).toBeLessThan(PROMPT_MS);
      expect(await q.len()).toBe(LIMIT);
    });

    it("put with a positive timeoutMs waits that long for room, then QueueFullError", async () => {
      const q = await fullQueue(h);
      const { ms, error } = await timed(() => q.put("extra", { timeoutMs: 300 }));
      await expectError(Promise.reject(error), QueueFullError);
      expect(ms).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
      expect(ms).toBeLessThan(300 + PROMPT_MS);
      expect(await q.len()).toBe(LIMIT);
    });

    it("put with a timeoutMs past Node's timer limit (2^31 ms) keeps waiting for room", async () => {
      const q = await fullQueue(h);
      const put = background(q.put("late", { timeoutMs: 2 ** 31 + 1_000 }));
      expect(await stillPending(put, 200)).toBe(true);
      expect(await q.get({ timeoutMs: 0 })).toBe(0);
      await put;
      expect(await q.len()).toBe(LIMIT);
    });

    it("put without timeoutMs waits for room, and lands at the tail once a get makes some", async () => {
      const q = await fullQueue(h);
      const put = background(q.put("late"));
      expect(await stillPending(put, 300)).toBe(true);
      expect(await q.get()).toBe(0);
      await within(put, PROMPT_MS);
      const items = await collect(q.iterate());
      expect(items.length).toBe(LIMIT);
      expect(items.at(-1)).toBe("late");
    });

    it("putMany waits until all of its items fit, writing none of them meanwhile", async () => {
      const q = await fullQueue(h, LIMIT - 1);
      const put = background(q.putMany(["x", "y"], { timeoutMs: 10_000 }));
      expect(await stillPending(put, 300)).toBe(true);
      expect(await q.len()).toBe(LIMIT - 1);
      await q.get();
      await within(put, PROMPT_MS);
      expect((await collect(q.iterate())).slice(-2)).toEqual(["x", "y"]);
    });

    it("putMany that times out writes nothing", async () => {
      const q = await fullQueue(h, LIMIT - 1);
      await expectError(q.putMany(["x", "y"], { timeoutMs: 200 }), QueueFullError);
      await expectError(q.putMany(["x", "y"], { timeoutMs: 0 }), QueueFullError);
      expect(await q.len()).toBe(LIMIT - 1);
      await q.put("fits", { timeoutMs: 0 });
    });

    it("putMany of more items than a partition can hold is RequestSizeError at once, even without timeoutMs", async () => {
      const store = await h.make({ limits: { queuePartitionItemsMax: LIMIT } });
      const q = await store.queues.ephemeral<number>();
      await expectError(within(q.putMany(range(LIMIT + 1)), PROMPT_MS), RequestSizeError);
      await expectError(within(q.putMany(range(LIMIT + 1), { partition: "p", timeoutMs: 10_000 }), PROMPT_MS), RequestSizeError);
      expect(await q.len({ total: true })).toBe(0);
      await q.putMany(range(LIMIT));
      expect(await q.len()).toBe(LIMIT);
    });

    it("test_queue_blocking_put: a producer without timeoutMs never sees QueueFullError while a consumer drains", async () => {
      const store = await h.make({ limits: { queuePartitionItemsMax: LIMIT } });
      const q = await store.queues.ephemeral<number>();
      const total = 3 * LIMIT;
      const producer = async () => {
        for (let i = 0; i < total; i++) await q.put(i);
      };
      const consumer = async () => {
        const got: number[] = [];
        await sleep(100);
        while (got.length < total) {
          got.push(...(await q.getMany(5)));
          await sleep(5);
        }
        return got;
      };
      const [, got] = await Promise.all([producer(), consumer()]);
      expect(got).toEqual(range(total));
    });

    it("a full partition does not hold up other partitions", async () => {
      const q = await fullQueue(h);
      await q.putMany(range(LIMIT), { partition: "other", timeoutMs: 0 });
      await expectError(q.put("x", { partition: "other", timeoutMs: 0 }), QueueFullError);
      expect(await q.len({ total: true })).toBe(2 * LIMIT);
    });

    it("a waiting putMany that gives up no longer holds back the smaller put queued behind it", async () => {
      const q = await fullQueue(h, LIMIT - 2);
      // Two items of room: a putMany of three waits, and a put of one queues behind it.
      const big = timed(() => q.putMany(["a", "b", "c"], { timeoutMs: 300 }));
      await sleep(50);
      const small = timed(() => q.put("small", { timeoutMs: 5_000 }));
      await expectError(Promise.reject((await big).error), QueueFullError);
      const { ms, error } = await small;
      expect(error).toBeUndefined();
      expect(ms).toBeLessThan(300 + PROMPT_MS);
      expect(await q.len()).toBe(LIMIT - 1);
    });

    it("a put waiting on a full partition gets in when the partition expires, not at the sweeper's next pass", async () => {
      // Expiry removes the partition and its items, which makes room. The sweeper passes once a
      // second; the waiting put must not wait for it.
      const store = await h.make({ limits: { queuePartitionItemsMax: LIMIT } });
      const q = await store.queues.ephemeral<number | string>();
      const TTL_MS = 300;
      await q.putMany(range(LIMIT), { partition: "p", partitionTtlMs: TTL_MS });
      const { ms, error } = await timed(() => q.put("late", { partition: "p", partitionTtlMs: TTL_MS, timeoutMs: 10_000 }));
      expect(error).toBeUndefined();
      expect(ms).toBeGreaterThanOrEqual(TTL_MS - TIMER_SLACK_MS - 50);
      expect(ms).toBeLessThan(TTL_MS + 450);
      expect(await collect(q.iterate({ partition: "p" }))).toEqual(["late"]);
    });
  });
}
