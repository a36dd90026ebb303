// Queue basics: FIFO per partition, the default partition, put/putMany/get/getMany.
// Translates Modal's test_queue_named, QueueSuite1, QueuePutAndGetMany, QueueNonBlocking,
// QueueNonEphemeral and test_queue_from_id.

import { describe, expect, it } from "vitest";
import { InvalidError, NotFoundError, QueueEmptyError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect, PROMPT_MS, TIMER_SLACK_MS, timed } from "./waiting.ts";

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

export function queueBasicSuite(h: Harness): void {
  describe("queue: basics", () => {
    it("test_queue_named: put, get, empty get, iterate twice without consuming, delete", async () => {
      const store = await h.make();
      const q = await store.queues.fromName<number>("some-random-queue", { createIfMissing: true });
      expect(q.name).toBe("some-random-queue");
      expect((await q.info()).name).toBe("some-random-queue");
      expect(await q.len()).toBe(0);
      await q.put(42);
      expect(await q.len()).toBe(1);
      expect(await q.get()).toBe(42);
      await expectError(q.get({ timeoutMs: 0 }), QueueEmptyError);
      expect(await q.len()).toBe(0);

      await q.putMany([1, 2, 3]);
      const { ms, value } = await timed(() => collect(q.iterate({ itemPollTimeoutMs: 1_000 })));
      expect(value).toEqual([1, 2, 3]);
      expect(ms).toBeGreaterThanOrEqual(1_000 - TIMER_SLACK_MS);
      expect(ms).toBeLessThan(3_000);
      expect(await collect(q.iterate({ itemPollTimeoutMs: 0 }))).toEqual([1, 2, 3]);

      await store.queues.delete("some-random-queue");
      await expectError(store.queues.fromName("some-random-queue"), NotFoundError);
      await store.queues.delete("some-random-queue", { allowMissing: true });
    });

    it("QueueSuite1: an ephemeral queue through its paces", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      expect(q.name).toBeUndefined();
      expect(await q.len()).toBe(0);
      await q.put(123);
      expect(await q.len()).toBe(1);
      expect(await q.get()).toBe(123);
      await q.put(432);
      expect(await q.get({ timeoutMs: 0 })).toBe(432);
      await expectError(q.get({ timeoutMs: 0 }), QueueEmptyError);
      expect(await q.len()).toBe(0);
      await q.putMany([1, 2, 3]);
      expect(await collect(q.iterate())).toEqual([1, 2, 3]);
    });

    it("QueuePutAndGetMany and QueueNonBlocking", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.putMany([1, 2, 3]);
      expect(await q.len()).toBe(3);
      expect(await q.getMany(3)).toEqual([1, 2, 3]);
      await q.put(123, { timeoutMs: 0 });
      expect(await q.len()).toBe(1);
      expect(await q.get({ timeoutMs: 0 })).toBe(123);
    });

    it("FIFO: items come out in the order they went in", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.putMany(range(50));
      for (const i of range(50, 50)) await q.put(i);
      const out = [];
      for (let i = 0; i < 100; i++) out.push(await q.get({ timeoutMs: 0 }));
      expect(out).toEqual(range(100));
    });

    it("FIFO across producers: each producer's items keep their order", async () => {
      const store = await h.make();
      const q = await store.queues.fromName<string>("shared", { createIfMissing: true });
      const producers = await Promise.all(range(3).map(() => store.queues.fromName<string>("shared")));
      await Promise.all(
        producers.map(async (p, who) => {
          for (let i = 0; i < 30; i++) await p.put(`${who}:${i}`);
        }),
      );
      const out = await q.getMany(1_000, { timeoutMs: 0 });
      expect(out.length).toBe(90);
      for (const who of range(3)) {
        expect(out.filter((x) => x.startsWith(`${who}:`))).toEqual(range(30).map((i) => `${who}:${i}`));
      }
    });

    it("partitions are separate FIFOs, and omitting the partition means the default one", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      await q.putMany(["a1", "a2"], { partition: "a" });
      await q.put("d1");
      await q.put("b1", { partition: "b" });
      await q.put("d2");
      expect(await q.len()).toBe(2);
      expect(await q.len({ partition: "a" })).toBe(2);
      expect(await q.get({ partition: "b", timeoutMs: 0 })).toBe("b1");
      expect(await q.getMany(10, { timeoutMs: 0 })).toEqual(["d1", "d2"]);
      expect(await q.get({ partition: "a" })).toBe("a1");
      await expectError(q.get({ partition: "b", timeoutMs: 0 }), QueueEmptyError);
      expect(await q.len({ total: true })).toBe(1);
    });

    it("getMany(n) returns what is there, up to n, without waiting to fill n", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.putMany([1, 2, 3, 4, 5]);
      expect(await q.getMany(2, { timeoutMs: 0 })).toEqual([1, 2]);
      const { ms, value } = await timed(() => q.getMany(100, { timeoutMs: 10_000 }));
      expect(value).toEqual([3, 4, 5]);
      expect(ms).toBeLessThan(PROMPT_MS);
      await expectError(q.getMany(1, { timeoutMs: 0 }), QueueEmptyError);
    });

    it("getMany(n) with n not an integer of at least 1 is InvalidError", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.put(1);
      for (const n of [0, -1, 1.5, NaN, Infinity]) await expectError(() => q.getMany(n, { timeoutMs: 0 }), InvalidError);
      expect(await q.len()).toBe(1);
    });

    it("null is an item like any other", async () => {
      const q = await (await h.make()).queues.ephemeral<null>();
      await q.put(null);
      expect(await q.len()).toBe(1);
      expect(await q.get({ timeoutMs: 0 })).toBeNull();
    });

    it("each item goes to exactly one of many concurrent consumers", async () => {
      const store = await h.make();
      const q = await store.queues.fromName<number>("work", { createIfMissing: true });
      await q.putMany(range(300));
      const consumers = await Promise.all(range(4).map(() => store.queues.fromName<number>("work")));
      const taken = await Promise.all(
        consumers.map(async (c, i) => {
          const mine: number[] = [];
          for (;;) {
            try {
              mine.push(...(await (i % 2 ? c.getMany(7, { timeoutMs: 0 }) : c.get({ timeoutMs: 0 }).then((v) => [v]))));
            } catch (err) {
              if (err instanceof QueueEmptyError) return mine;
              throw err;
            }
          }
        }),
      );
      for (const mine of taken) expect(mine).toEqual([...mine].sort((a, b) => a - b));
      expect(taken.flat().sort((a, b) => a - b)).toEqual(range(300));
    });
  });
}
