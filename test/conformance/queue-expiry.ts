// Partition expiry (spec: "a partition and its items are removed partitionTtlMs after the
// last put into it (default 24 h; each put resets it; Infinity means never). Expired items
// are never returned, even before the sweeper has physically removed them";
// "partitionTtlMs ... not positive (NaN included)" is InvalidError). A ManualClock stands
// in for time: after `advance`, no sweeper has had a chance to run.

import { describe, expect, it } from "vitest";
import { InvalidError, QueueEmptyError } from "../../proto/errors.ts";
import { ManualClock } from "../support/clock.ts";
import { expectError } from "./expect-error.ts";
import type { FactoryOptions, Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

const TTL = 1_000;
const DAY = 86_400_000;

async function setup(h: Harness, options: FactoryOptions = {}) {
  const clock = new ManualClock();
  const store = await h.make({ ...options, clock });
  const q = await store.queues.ephemeral<string>();
  return { clock, q };
}

export function queueExpirySuite(h: Harness): void {
  describe("queue: partition expiry", () => {
    it("a partition is removed partitionTtlMs after the last put, and not before", async () => {
      const { clock, q } = await setup(h);
      await q.putMany(["a", "b"], { partition: "p", partitionTtlMs: TTL });
      clock.advance(TTL - 1);
      expect(await q.len({ partition: "p" })).toBe(2);
      clock.advance(2);
      expect(await q.len({ partition: "p" })).toBe(0);
      expect(await q.len({ total: true })).toBe(0);
      await expectError(q.get({ partition: "p", timeoutMs: 0 }), QueueEmptyError);
      await expectError(q.getMany(5, { partition: "p", timeoutMs: 0 }), QueueEmptyError);
      expect(await collect(q.iterate({ partition: "p" }))).toEqual([]);
    });

    it("each put resets the expiry of the whole partition", async () => {
      const { clock, q } = await setup(h);
      await q.put("old", { partition: "p", partitionTtlMs: TTL });
      clock.advance(TTL * 0.8);
      await q.put("new", { partition: "p", partitionTtlMs: TTL });
      clock.advance(TTL * 0.8);
      expect(await collect(q.iterate({ partition: "p" }))).toEqual(["old", "new"]);
      clock.advance(TTL * 0.3);
      expect(await q.len({ partition: "p" })).toBe(0);
    });

    it("gets do not extend the expiry", async () => {
      const { clock, q } = await setup(h);
      await q.putMany(["a", "b"], { partitionTtlMs: TTL });
      clock.advance(TTL * 0.6);
      expect(await q.get()).toBe("a");
      clock.advance(TTL * 0.6);
      await expectError(q.get({ timeoutMs: 0 }), QueueEmptyError);
    });

    it("partitions expire independently, the default partition included", async () => {
      const { clock, q } = await setup(h);
      await q.put("default", { partitionTtlMs: TTL });
      await q.put("early", { partition: "early", partitionTtlMs: TTL });
      clock.advance(TTL * 0.5);
      await q.put("late", { partition: "late", partitionTtlMs: TTL });
      clock.advance(TTL * 0.6);
      expect(await q.len()).toBe(0);
      expect(await q.len({ partition: "early" })).toBe(0);
      expect(await q.get({ partition: "late", timeoutMs: 0 })).toBe("late");
    });

    it("a put after expiry starts a fresh partition without the expired items", async () => {
      const { clock, q } = await setup(h);
      await q.putMany(["stale1", "stale2"], { partitionTtlMs: TTL });
      clock.advance(TTL + 1);
      await q.put("fresh", { partitionTtlMs: TTL });
      expect(await q.len()).toBe(1);
      expect(await q.getMany(10, { timeoutMs: 0 })).toEqual(["fresh"]);
    });

    it("the default partitionTtlMs is 24 hours", async () => {
      const { clock, q } = await setup(h);
      await q.put("x");
      clock.advance(DAY - 1);
      expect(await q.len()).toBe(1);
      clock.advance(2);
      expect(await q.len()).toBe(0);
    });

    it("the partitionTtlMs limit sets the default", async () => {
      const { clock, q } = await setup(h, { limits: { partitionTtlMs: 5_000 } });
      await q.put("x");
      clock.advance(5_001);
      expect(await q.len()).toBe(0);
    });

    it("partitionTtlMs Infinity never expires", async () => {
      const { clock, q } = await setup(h);
      await q.put("forever", { partitionTtlMs: Infinity });
      clock.advance(10 * 365 * DAY);
      expect(await q.get({ timeoutMs: 0 })).toBe("forever");
    });

    it("a finite partitionTtlMs too large to reach (1e20, Number.MAX_VALUE) is accepted and means never", async () => {
      const { clock, q } = await setup(h);
      await q.put("a", { partition: "p1", partitionTtlMs: 1e20 });
      await q.putMany(["b", "c"], { partition: "p2", partitionTtlMs: Number.MAX_VALUE });
      clock.advance(10 * 365 * DAY);
      expect(await q.len({ total: true })).toBe(3);
      expect(await q.get({ partition: "p1", timeoutMs: 0 })).toBe("a");
      expect(await q.getMany(5, { partition: "p2", timeoutMs: 0 })).toEqual(["b", "c"]);
    });

    it("an expired partition no longer counts against queuePartitionsMax", async () => {
      const { clock, q } = await setup(h, { limits: { queuePartitionsMax: 2 } });
      await q.put("x", { partition: "p1", partitionTtlMs: TTL });
      await q.put("x", { partition: "p2", partitionTtlMs: TTL });
      clock.advance(TTL + 1);
      await q.put("x", { partition: "p3", partitionTtlMs: TTL });
      await q.put("x", { partition: "p4", partitionTtlMs: TTL });
      expect(await q.len({ total: true })).toBe(2);
    });

    it("partitionTtlMs that is not a positive number is InvalidError, and nothing is written", async () => {
      const { q } = await setup(h);
      for (const partitionTtlMs of [0, -1, NaN, -Infinity]) {
        await expectError(() => q.put("x", { partitionTtlMs }), InvalidError);
        await expectError(() => q.putMany(["x", "y"], { partition: "p", partitionTtlMs }), InvalidError);
      }
      expect(await q.len({ total: true })).toBe(0);
    });
  });
}
