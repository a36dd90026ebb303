// iterate (spec: "iterate reads without removing, from the head in FIFO order, including
// items put while iterating; it ends after itemPollTimeoutMs (default 0) with nothing new").
// Translates Modal's test_queue_named iteration window and QueueSuite2.

import { describe, expect, it } from "vitest";
import { InvalidError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect, PROMPT_MS, sleep, timed, TIMER_SLACK_MS } from "./waiting.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export function queueIterateSuite(h: Harness): void {
  describe("queue: iterate", () => {
    it("reads from the head in FIFO order without removing anything", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.putMany([1, 2, 3]);
      expect(await collect(q.iterate())).toEqual([1, 2, 3]);
      expect(await q.len()).toBe(3);
      expect(await q.get()).toBe(1);
      expect(await collect(q.iterate())).toEqual([2, 3]);
    });

    it("reads one partition", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      await q.putMany(["d1", "d2"]);
      await q.putMany(["p1", "p2"], { partition: "p" });
      expect(await collect(q.iterate({ partition: "p" }))).toEqual(["p1", "p2"]);
      expect(await collect(q.iterate())).toEqual(["d1", "d2"]);
    });

    it("with the default itemPollTimeoutMs of 0, an empty queue ends at once", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      const { ms, value } = await timed(() => collect(q.iterate()));
      expect(value).toEqual([]);
      expect(ms).toBeLessThan(PROMPT_MS);
    });

    it("yields more items than one page", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      for (let i = 0; i < 1_200; i += 400) await q.putMany(range(400).map((x) => x + i));
      expect(await collect(q.iterate())).toEqual(range(1_200));
    });

    it("ends itemPollTimeoutMs after the last item (Modal: between 1.0 s and 2.0 s for 1.0 s)", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.putMany([1, 2, 3]);
      const { ms, value } = await timed(() => collect(q.iterate({ itemPollTimeoutMs: 1_000 })));
      expect(value).toEqual([1, 2, 3]);
      expect(ms).toBeGreaterThanOrEqual(1_000 - TIMER_SLACK_MS);
      expect(ms).toBeLessThan(1_000 + PROMPT_MS);
    });

    it("QueueSuite2: includes items put while iterating", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      const producer = async () => {
        for (let i = 0; i < 10; i++) await q.put(i);
      };
      const [, results] = await Promise.all([producer(), collect(q.iterate({ itemPollTimeoutMs: 1_000 }))]);
      expect(results).toEqual(range(10));
    });

    it("the idle window restarts with each new item", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      const producer = async () => {
        for (let i = 0; i < 4; i++) {
          await sleep(250);
          await q.put(i);
        }
      };
      const [, { ms, value }] = await Promise.all([producer(), timed(() => collect(q.iterate({ itemPollTimeoutMs: 600 })))]);
      expect(value).toEqual(range(4));
      expect(ms).toBeGreaterThanOrEqual(4 * 250 + 600 - TIMER_SLACK_MS);
    });

    it("an item put while waiting is yielded promptly", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      const iterator = q.iterate({ itemPollTimeoutMs: 10_000 });
      const first = iterator.next();
      await sleep(100);
      const { ms, value } = await timed(async () => {
        await q.put("x");
        return first;
      });
      expect(value).toEqual({ done: false, value: "x" });
      expect(ms).toBeLessThan(PROMPT_MS);
      await iterator.return?.(undefined);
    });

    it("an itemPollTimeoutMs past Node's timer limit (2^31 ms) keeps the iterator waiting", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      await q.put("a");
      const iterator = q.iterate({ itemPollTimeoutMs: 2 ** 31 + 1_000 });
      expect(await iterator.next()).toEqual({ done: false, value: "a" });
      const second = iterator.next();
      await sleep(200);
      await q.put("b");
      expect(await second).toEqual({ done: false, value: "b" });
      await iterator.return?.(undefined);
    });

    it("stopping early leaves the queue as it was", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.putMany([1, 2, 3]);
      for await (const item of q.iterate()) if (item === 2) break;
      expect(await q.getMany(10, { timeoutMs: 0 })).toEqual([1, 2, 3]);
    });

    it("itemPollTimeoutMs negative or NaN is InvalidError", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.put(1);
      for (const itemPollTimeoutMs of [-1, NaN]) {
        await expectError(() => collect(q.iterate({ itemPollTimeoutMs })), InvalidError);
      }
    });
  });
}
