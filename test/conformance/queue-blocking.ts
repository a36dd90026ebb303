// Waiting getters (spec: "timeoutMs undefined waits without limit; 0 is a single attempt; a
// positive value waits that long at most. Negative or non-finite values are InvalidError.
// Blocked getters on one partition are served in arrival order; a put wakes a waiting
// getter promptly").

import { describe, expect, it } from "vitest";
import type { Queue } from "../../proto/api.ts";
import { InvalidError, QueueEmptyError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { background, PROMPT_MS, sleep, stillPending, timed, TIMER_SLACK_MS } from "./waiting.ts";

/** Lets a just-started call reach the store, so that arrival order is the call order. */
const SETTLE_MS = 40;

async function waiters<T>(start: Array<() => Promise<T>>): Promise<Array<Promise<T>>> {
  const out = [];
  for (const call of start) {
    out.push(background(call()));
    await sleep(SETTLE_MS);
  }
  return out;
}

export function queueBlockingSuite(h: Harness): void {
  describe("queue: waiting for items", () => {
    it("get without timeoutMs waits until an item arrives", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      const got = background(q.get());
      expect(await stillPending(got, 300)).toBe(true);
      await q.put("x");
      expect(await got).toBe("x");
      expect(await q.len()).toBe(0);
    });

    it("getMany without timeoutMs waits for one item, then returns what is there", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      const got = background(q.getMany(10));
      expect(await stillPending(got, 200)).toBe(true);
      await q.putMany([1, 2]);
      expect(await got).toEqual([1, 2]);
    });

    it("timeoutMs 0 makes one attempt", async () => {
      const q = await (await h.make()).queues.ephemeral();
      const { ms, error } = await timed(() => q.get({ timeoutMs: 0 }));
      await expectError(Promise.reject(error), QueueEmptyError);
      expect(ms).toBeLessThan(PROMPT_MS);
      await expectError(q.getMany(5, { timeoutMs: 0 }), QueueEmptyError);
    });

    for (const method of ["get", "getMany"] as const) {
      it(`${method} with a positive timeoutMs waits that long, then QueueEmptyError`, async () => {
        const q = await (await h.make()).queues.ephemeral();
        const call = () => (method === "get" ? q.get({ timeoutMs: 300 }) : q.getMany(3, { timeoutMs: 300 }));
        const { ms, error } = await timed(call);
        await expectError(Promise.reject(error), QueueEmptyError);
        expect(ms).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
        expect(ms).toBeLessThan(300 + PROMPT_MS);
      });
    }

    // Node's own timers take at most 2^31 - 1 ms and turn a longer delay into 1 ms.
    for (const timeoutMs of [2 ** 31, 1e10]) {
      it(`get and getMany with timeoutMs ${timeoutMs} (past Node's timer limit) keep waiting`, async () => {
        const q = await (await h.make()).queues.ephemeral<string>();
        const one = background(q.get({ timeoutMs }));
        const many = background(q.getMany(5, { timeoutMs, partition: "p" }));
        expect(await stillPending(one, 200)).toBe(true);
        expect(await stillPending(many, 0)).toBe(true);
        await q.put("x");
        await q.put("y", { partition: "p" });
        expect(await one).toBe("x");
        expect(await many).toEqual(["y"]);
      });
    }

    it("a put wakes a waiting getter promptly", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      const got = background(q.get({ timeoutMs: 10_000 }));
      await sleep(100);
      const { ms, value } = await timed(async () => {
        await q.put("wake up");
        return got;
      });
      expect(value).toBe("wake up");
      expect(ms).toBeLessThan(PROMPT_MS);
    });

    it("blocked getters are served in arrival order", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      const gets = await waiters([1, 2, 3, 4].map(() => () => q.get({ timeoutMs: 10_000 })));
      await q.put("a");
      expect(await gets[0]).toBe("a");
      expect(await stillPending(gets[1]!, 100)).toBe(true);
      await q.putMany(["b", "c", "d"]);
      expect(await Promise.all(gets)).toEqual(["a", "b", "c", "d"]);
    });

    it("a waiting getMany takes its turn in arrival order, with up to n items", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      const [first, many, last] = await waiters<number | number[]>([
        () => q.get({ timeoutMs: 10_000 }),
        () => q.getMany(2, { timeoutMs: 10_000 }),
        () => q.get({ timeoutMs: 10_000 }),
      ]);
      await q.putMany([1, 2, 3, 4]);
      expect(await Promise.all([first, many, last])).toEqual([1, [2, 3], 4]);
    });

    it("twenty waiting getters get twenty items, one each, in order", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      const gets = await waiters(Array.from({ length: 20 }, () => () => q.get({ timeoutMs: 20_000 })));
      for (let i = 0; i < 20; i++) await q.put(i);
      expect(await Promise.all(gets)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(await q.len()).toBe(0);
    });

    it("a getter waits on its own partition only", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      const got = background(q.get({ partition: "a", timeoutMs: 400 }));
      await sleep(50);
      await q.put("for b", { partition: "b" });
      await q.put("for default");
      await expectError(got, QueueEmptyError);
      expect(await q.len({ total: true })).toBe(2);
    });

    it("a getter that timed out takes nothing", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      await expectError(q.get({ timeoutMs: 100 }), QueueEmptyError);
      await q.put("x");
      await sleep(50);
      expect(await q.len()).toBe(1);
    });

    it("timeoutMs that is negative, NaN or infinite is InvalidError, and nothing is written or taken", async () => {
      const q: Queue<number> = await (await h.make()).queues.ephemeral<number>();
      await q.put(1);
      for (const timeoutMs of [-1, -0.5, NaN, Infinity, -Infinity]) {
        await expectError(() => q.get({ timeoutMs }), InvalidError);
        await expectError(() => q.getMany(2, { timeoutMs }), InvalidError);
        await expectError(() => q.put(2, { timeoutMs }), InvalidError);
        await expectError(() => q.putMany([2, 3], { timeoutMs }), InvalidError);
      }
      expect(await q.getMany(10, { timeoutMs: 0 })).toEqual([1]);
    });
  });
}
