// Durability across close and reopen, for implementations that declare
// `supports.persistence`: data, counts, key order, FIFO order, object metadata and expiry
// deadlines survive; deleted objects stay deleted; ephemeral objects do not come back.

import { describe, expect, it } from "vitest";
import type { Store } from "../../proto/api.ts";
import { NotFoundError } from "../../proto/errors.ts";
import { ManualClock } from "../support/clock.ts";
import { expectError } from "./expect-error.ts";
import type { FactoryOptions, Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

export function persistenceSuite(h: Harness): void {
  const reopen = (store: Store, options?: FactoryOptions) => h.reopen!(store, options);

  describe.skipIf(!h.supports.persistence)("persistence across reopen", () => {
    it("dict entries, values of every type, counts and key order survive", async () => {
      const store = await h.make();
      const d = await store.dicts.fromName("pages", { createIfMissing: true });
      const entries: Array<[string | number, unknown]> = [
        [2, new Map([[1, new Set(["a"])]])],
        ["b", { when: new Date(1234), big: 2n ** 90n, z: -0, n: NaN }],
        [1, new Uint8Array([0, 1, 2])],
        ["a", null],
      ];
      await d.update(entries);
      await d.put("gone", 1);
      await d.pop("gone");
      const reopened = await reopen(store);
      const again = await reopened.dicts.fromName("pages");
      expect(await again.len()).toBe(4);
      expect(await collect(again.items())).toStrictEqual([entries[2], entries[0], entries[3], entries[1]]);
      expect(await again.contains("gone")).toBe(false);
    });

    it("queue items, partitions and FIFO order survive, and new puts go to the tail", async () => {
      const store = await h.make();
      const q = await store.queues.fromName<string>("jobs", { createIfMissing: true });
      await q.putMany(["d1", "d2", "d3"]);
      await q.putMany(["p1", "p2"], { partition: "p" });
      expect(await q.get()).toBe("d1");
      const reopened = await reopen(store);
      const again = await reopened.queues.fromName<string>("jobs");
      expect(await again.len({ total: true })).toBe(4);
      await again.put("d4");
      expect(await again.getMany(10, { timeoutMs: 0 })).toEqual(["d2", "d3", "d4"]);
      expect(await again.getMany(10, { partition: "p", timeoutMs: 0 })).toEqual(["p1", "p2"]);
    });

    it("objects keep their id and info; list order and deletions survive", async () => {
      const store = await h.make();
      const first = await store.dicts.fromName("first", { createIfMissing: true });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const second = await store.queues.fromName("second", { createIfMissing: true, environment: "dev" });
      await store.dicts.create("deleted");
      await store.dicts.delete("deleted");
      const infos = [await first.info(), await second.info()];
      const reopened = await reopen(store);
      expect(await (await reopened.dicts.fromId(first.id)).info()).toEqual(infos[0]);
      expect(await (await reopened.queues.fromName("second", { environment: "dev" })).info()).toEqual(infos[1]);
      expect(await reopened.dicts.list()).toEqual([infos[0]]);
      await expectError(reopened.dicts.fromName("deleted"), NotFoundError);
    });

    it("ephemeral objects do not survive reopen", async () => {
      const store = await h.make();
      const d = await store.dicts.ephemeral();
      const q = await store.queues.ephemeral();
      await d.put("k", 1);
      await q.put(1);
      const reopened = await reopen(store);
      await expectError(reopened.dicts.fromId(d.id), NotFoundError);
      await expectError(reopened.queues.fromId(q.id), NotFoundError);
    });

    it("entry and partition expiry deadlines survive", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const d = await store.dicts.fromName("cache", { createIfMissing: true, entryTtlMs: 1_000 });
      await d.put("k", 1);
      const q = await store.queues.fromName("q", { createIfMissing: true });
      await q.put("x", { partitionTtlMs: 1_000 });
      await q.put("y", { partition: "forever", partitionTtlMs: Infinity });
      const reopened = await reopen(store, { clock });
      clock.advance(1_001);
      const d2 = await reopened.dicts.fromName("cache");
      expect(await d2.contains("k")).toBe(false);
      await d2.put("k2", 2);
      clock.advance(1_001);
      expect(await d2.contains("k2")).toBe(false);
      const q2 = await reopened.queues.fromName("q");
      expect(await q2.len()).toBe(0);
      clock.advance(365 * 86_400_000);
      expect(await q2.len({ partition: "forever" })).toBe(1);
    });
  });
}
