// `q.partitions()` (spec "Partitions, inspected (v2)"): each partition's length, reserved
// count and expiry, in partition-key order (UTF-8 bytes, the default partition first, and
// only when it holds items or has been put to and not expired), streamed in pages. An
// empty partition that has not expired may appear with `len: 0`; the tests accept that.

import { describe, expect, it } from "vitest";
import type { Queue, QueuePartitionInfo } from "../../proto/api.ts";
import { ClosedError, NotFoundError } from "../../proto/errors.ts";
import { ManualClock } from "../support/clock.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

const TTL = 10_000;
const DAY = 86_400_000;

/** The partitions that hold items (an empty one may be listed with len 0). */
async function listed(q: Queue<unknown>): Promise<QueuePartitionInfo[]> {
  return (await collect(q.partitions())).filter((p) => p.len > 0);
}

function byteOrder(keys: string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
}

export function queuePartitionsSuite(h: Harness): void {
  describe("queue: partitions()", () => {
    it("an empty queue has no partitions", async () => {
      const store = await h.make();
      const q = await store.queues.ephemeral();
      expect(await collect(q.partitions())).toEqual([]);
    });

    it("lists each partition with its length, the default first, then in UTF-8 byte order", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const q = await store.queues.ephemeral<string>();
      // UTF-16 order would put "\u{1F600}" (a surrogate pair, 0xD83D...) before "\uFF5E"; UTF-8 puts it after.
      const keys = ["b", "a", "Z", "é", "\uFF5E", "\u{1F600}", "a-long-partition-key"];
      for (const [i, key] of keys.entries()) await q.putMany(Array.from({ length: i + 1 }, (_, j) => `${key}${j}`), { partition: key, partitionTtlMs: TTL });
      await q.putMany(["d1", "d2"], { partitionTtlMs: TTL });
      const parts = await listed(q);
      expect(parts.map((p) => p.partition)).toEqual([undefined, ...byteOrder(keys)]);
      expect(parts[0]).toEqual({ partition: undefined, len: 2, reserved: 0, expiresAt: new Date(clock.now() + TTL) });
      for (const p of parts.slice(1)) expect(p.len).toBe(keys.indexOf(p.partition!) + 1);
      // A partition's length follows its gets; an emptied one is gone or shows len 0.
      await q.getMany(10, { partition: "b" });
      await q.get({ partition: "a" });
      const after = await collect(q.partitions());
      // "a" held indexOf("a") + 1 items, one of which is gone.
      expect(after.find((p) => p.partition === "a")?.len).toBe(keys.indexOf("a"));
      expect(after.find((p) => p.partition === "b")?.len ?? 0).toBe(0);
      expect((await listed(q)).map((p) => p.partition)).toEqual([undefined, ...byteOrder(keys.filter((k) => k !== "b"))]);
    });

    it("gives the expiry of each partition, moved by each put, and none for an Infinity ttl", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const q = await store.queues.ephemeral<string>();
      const t0 = clock.now();
      await q.put("x", { partition: "short", partitionTtlMs: TTL });
      await q.put("y", { partition: "never", partitionTtlMs: Infinity });
      await q.put("z", { partition: "default-ttl" });
      clock.advance(1_000);
      await q.put("x2", { partition: "short", partitionTtlMs: TTL });
      const parts = new Map((await listed(q)).map((p) => [p.partition, p]));
      expect(parts.get("short")?.expiresAt).toEqual(new Date(t0 + 1_000 + TTL));
      expect(parts.get("short")?.len).toBe(2);
      expect(parts.get("never")?.expiresAt).toBeUndefined();
      expect(parts.get("default-ttl")?.expiresAt).toEqual(new Date(t0 + DAY));
      for (const p of parts.values()) expect(p.expiresAt === undefined || p.expiresAt instanceof Date).toBe(true);
    });

    it("never lists an expired partition, swept or not", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const q = await store.queues.ephemeral<string>();
      await q.putMany(["a", "b"], { partitionTtlMs: TTL });
      await q.put("c", { partition: "p", partitionTtlMs: TTL });
      await q.put("d", { partition: "q", partitionTtlMs: TTL * 3 });
      clock.advance(TTL);
      expect((await collect(q.partitions())).map((p) => p.partition)).toEqual(["q"]);
    });

    it("streams more partitions than one page holds, each once, in order", async () => {
      const store = await h.make();
      const q = await store.queues.ephemeral<number>();
      // More than a page of the typed store (500) and a page of the protocol's limit (1,000) would need too long a setup.
      const keys = Array.from({ length: 1_100 }, (_, i) => `p${i}`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((key, j) => q.put(i + j, { partition: key })));
      await q.put(-1);
      const parts = await collect(q.partitions());
      expect(parts.map((p) => p.partition)).toEqual([undefined, ...byteOrder(keys)]);
      expect(parts.every((p) => p.len === 1 && p.reserved === 0)).toBe(true);
    });

    it.skipIf(typeof h.supports.reservations === "string")("counts reserved items in len and reserved until acked, released or their delay ends", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const q = await store.queues.ephemeral<number>();
      await q.putMany([1, 2, 3], { partition: "p" });
      await q.put(0);
      const of = async (partition: string | undefined) => (await collect(q.partitions())).find((p) => p.partition === partition);
      const [a, b] = await q.reserve(2, { partition: "p", leaseMs: 10_000 });
      expect(await of("p")).toMatchObject({ len: 3, reserved: 2 });
      expect(await of(undefined)).toMatchObject({ len: 1, reserved: 0 });
      await a!.ack();
      expect(await of("p")).toMatchObject({ len: 2, reserved: 1 });
      await b!.release();
      expect(await of("p")).toMatchObject({ len: 2, reserved: 0 });
      // Every item reserved: the partition is still listed, with its items.
      const all = await q.reserve(5, { partition: "p", leaseMs: 10_000 });
      expect(all.map((r) => r.value)).toEqual([2, 3]);
      expect(await of("p")).toMatchObject({ len: 2, reserved: 2 });
      // A release with a delay keeps the item reserved until the delay ends; a lease that runs out frees it.
      await all[0]!.release({ delayMs: 5_000 });
      expect(await of("p")).toMatchObject({ len: 2, reserved: 2 });
      clock.advance(5_000);
      expect(await of("p")).toMatchObject({ len: 2, reserved: 1 });
      clock.advance(5_000);
      expect(await of("p")).toMatchObject({ len: 2, reserved: 0 });
    });

    it("is NOT_FOUND on a deleted queue and CLOSED on a closed handle", async () => {
      const store = await h.make();
      await store.queues.create("gone");
      const q = await store.queues.fromName("gone");
      await q.put(1, { partition: "p" });
      await store.queues.delete("gone");
      await expectError(() => collect(q.partitions()), NotFoundError);
      const e = await store.queues.ephemeral();
      await e.close();
      await expectError(() => collect(e.partitions()), ClosedError);
    });
  });
}
