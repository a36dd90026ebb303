// `q.process(handler, options)` (spec "Reliable delivery: reservations (v2)"): a worker that
// reserves, runs the handler, extends the lease while it runs, acks when it resolves,
// releases with a delay of min(1 s * 2^(deliveries - 1), 5 min) when it throws, and drains
// on close(). Time that matters is the store's ManualClock: a lease or a release delay ends
// only when the test moves the clock, so nothing here waits on a lease by sleeping.

import { describe, expect, it } from "vitest";
import type { Queue, Reservation } from "../../proto/api.ts";
import { InvalidError, NotFoundError, QueueEmptyError } from "../../proto/errors.ts";
import { ManualClock } from "../support/clock.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { sleep } from "./waiting.ts";

/** Polls `check` until it holds (a worker runs on its own; this waits for what it does). */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** A promise and its resolve, for handlers the test lets finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** One attempt to reserve: the reservations, or [] when nothing is visible. */
async function tryReserve<T>(q: Queue<T>, partition?: string): Promise<Array<Reservation<T>>> {
  try {
    return await q.reserve(10, { timeoutMs: 0, ...(partition === undefined ? {} : { partition }) });
  } catch (err) {
    if (err instanceof QueueEmptyError) return [];
    throw err;
  }
}

export function queueWorkerSuite(h: Harness): void {
  const unsupported = typeof h.supports.reservations === "string" ? h.supports.reservations : undefined;
  describe.skipIf(unsupported !== undefined)("queue: process() worker", () => {
    it("runs the handler on each item in FIFO order and acks what it resolves", async () => {
      const store = await h.make();
      const q = await store.queues.ephemeral<number>();
      await q.putMany([1, 2, 3, 4, 5]);
      const seen: Array<[number, number]> = [];
      const worker = q.process(async (value, job) => {
        seen.push([value, job.deliveries]);
      });
      await until(() => seen.length === 5, "five items are handled");
      await worker.close();
      expect(seen).toEqual([[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
      expect(await q.len()).toBe(0);
      expect(await tryReserve(q)).toEqual([]);
    });

    it("runs at most `concurrency` handlers at once, and more items wait in the queue", async () => {
      const store = await h.make();
      const q = await store.queues.ephemeral<number>();
      await q.putMany(Array.from({ length: 10 }, (_, i) => i));
      const g = gate();
      let running = 0;
      let most = 0;
      let done = 0;
      const worker = q.process(
        async () => {
          most = Math.max(most, ++running);
          await g.promise;
          running--;
          done++;
        },
        { concurrency: 3 },
      );
      await until(() => running === 3, "three handlers run");
      await sleep(100);
      expect(running).toBe(3);
      // Reserved items count in len; the other seven are still visible.
      expect(await q.len()).toBe(10);
      g.open();
      await until(() => done === 10, "ten items are handled");
      await worker.close();
      expect(most).toBe(3);
      expect(await q.len()).toBe(0);
    });

    it("releases a failed item with a delay of min(1 s * 2^(deliveries - 1), 5 min): 1 s after delivery 1, 4 s after delivery 3", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const q = await store.queues.ephemeral<string>();
      await q.put("x");
      const errors: Array<[unknown, Reservation<string> | undefined]> = [];
      const failing = () =>
        q.process(
          async () => {
            throw new Error("boom");
          },
          { onError: (error, job) => void errors.push([error, job as Reservation<string> | undefined]) },
        );
      let worker = failing();
      await until(() => errors.length === 1, "the handler has failed once");
      await worker.close();
      expect((errors[0]![0] as Error).message).toBe("boom");
      expect(errors[0]![1]?.value).toBe("x");
      expect(errors[0]![1]?.deliveries).toBe(1);
      // Released with a delay: still there, not visible.
      expect(await q.len()).toBe(1);
      clock.advance(999);
      expect(await tryReserve(q)).toEqual([]);
      clock.advance(1);
      const [again] = await tryReserve(q);
      expect(again?.deliveries).toBe(2);
      await again!.release();

      worker = failing();
      await until(() => errors.length === 2, "the handler has failed twice");
      await worker.close();
      expect(errors[1]![1]?.deliveries).toBe(3);
      clock.advance(3_999);
      expect(await tryReserve(q)).toEqual([]);
      clock.advance(1);
      const [third] = await tryReserve(q);
      expect(third?.deliveries).toBe(4);
      await third!.ack();
      expect(await q.len()).toBe(0);
    });

    it("extends the lease while the handler runs, so the item is not delivered again", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const q = await store.queues.ephemeral<string>();
      await q.put("long job");
      const g = gate();
      let job: Reservation<string> | undefined;
      const worker = q.process(
        async (_value, j) => {
          job = j;
          await g.promise;
        },
        { leaseMs: 400 },
      );
      await until(() => job !== undefined, "the handler runs");
      const firstEnd = job!.leaseEndsAt.getTime();
      for (let i = 0; i < 3; i++) {
        // Past where the lease would end without extension, once the worker has extended it.
        const before = job!.leaseEndsAt.getTime();
        clock.advance(300);
        await until(() => job!.leaseEndsAt.getTime() > before, "the worker extends the lease");
        expect(await tryReserve(q)).toEqual([]);
      }
      expect(clock.now()).toBeGreaterThan(firstEnd);
      g.open();
      await worker.close();
      expect(await q.len()).toBe(0);
      expect(job!.deliveries).toBe(1);
    });

    it("close() stops reserving, waits for running handlers and acks them", async () => {
      const store = await h.make();
      const q = await store.queues.ephemeral<number>();
      await q.putMany([1, 2]);
      const g = gate();
      const started: number[] = [];
      let finished = 0;
      const worker = q.process(
        async (value) => {
          started.push(value);
          await g.promise;
          finished++;
        },
        { concurrency: 2 },
      );
      await until(() => started.length === 2, "both handlers run");
      let closed = false;
      const closing = worker.close().then(() => (closed = true));
      await q.put(3);
      await sleep(100);
      expect(closed).toBe(false);
      g.open();
      await closing;
      expect(finished).toBe(2);
      // Nothing was reserved after close(): 3 is there for the next consumer.
      expect(started).toEqual([1, 2]);
      const [next] = await tryReserve(q);
      expect([next?.value, next?.deliveries]).toEqual([3, 1]);
      await next!.ack();
      // await using works too.
      {
        await q.put(4);
        let handled = 0;
        await using w = q.process(async () => void handled++);
        await until(() => handled === 1, "the item is handled");
        void w;
      }
      expect(await q.len()).toBe(0);
    });

    it("dead-letters an item after maxDeliveries failures, with its delivery count", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const q = await store.queues.ephemeral<string>();
      await q.put("poison", { partition: "work" });
      let failures = 0;
      const options = { partition: "work", maxDeliveries: 2, deadLetterPartition: "dead", onError: () => void failures++ };
      const fail = async () => {
        throw new Error("always");
      };
      let worker = q.process(fail, options);
      await until(() => failures === 1, "the first failure");
      await worker.close();
      clock.advance(1_000);
      worker = q.process(fail, options);
      await until(() => failures === 2, "the second failure");
      await worker.close();
      expect(await q.len({ partition: "work" })).toBe(0);
      expect(await q.len({ partition: "dead" })).toBe(1);
      const [dead] = await tryReserve(q, "dead");
      expect([dead?.value, dead?.deliveries]).toEqual(["poison", 3]);
      await dead!.ack();
    });

    it("reports its own failures to onError without a reservation", async () => {
      const store = await h.make();
      await store.queues.create("doomed");
      const q = await store.queues.fromName<number>("doomed");
      await q.put(1);
      const g = gate();
      const errors: Array<[unknown, unknown]> = [];
      let started = false;
      const worker = q.process(
        async () => {
          started = true;
          await g.promise;
        },
        { onError: (error, job) => void errors.push([error, job]) },
      );
      await until(() => started, "the handler runs");
      await store.queues.delete("doomed");
      g.open();
      await until(() => errors.some(([e]) => e instanceof NotFoundError), "the ack or reserve fails with NOT_FOUND");
      await worker.close();
      for (const [error, job] of errors) {
        expect(error).toBeInstanceOf(NotFoundError);
        expect(job).toBeUndefined();
      }
    });

    it("refuses bad options at once with INVALID", async () => {
      const store = await h.make();
      const q = await store.queues.ephemeral<number>();
      const handler = async () => {};
      await expectError(() => q.process(handler, { concurrency: 0 }), InvalidError);
      await expectError(() => q.process(handler, { concurrency: 1.5 }), InvalidError);
      await expectError(() => q.process(handler, { leaseMs: -1 }), InvalidError);
      await expectError(() => q.process(handler, { maxDeliveries: 0 }), InvalidError);
      await expectError(() => q.process(handler, { deadLetterPartition: "dead" }), InvalidError);
      await expectError(() => q.process(undefined as unknown as typeof handler), InvalidError);
    });
  });
}
