// Contents belong to the object, not to the handle: every handle to an object sees the
// same data, `delete` removes the contents with the object, a recreated name starts
// empty, and a handle to a deleted object fails every operation with NotFoundError.

import { describe, expect, it } from "vitest";
import type { Dict, Queue } from "../../proto/api.ts";
import { NotFoundError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

export function objectContentsSuite(h: Harness): void {
  describe("dicts: contents follow the object", () => {
    it("handles from fromName and fromId share one dict", async () => {
      const store = await h.make();
      const d = await store.dicts.fromName("shared", { createIfMissing: true });
      const byName = await store.dicts.fromName("shared");
      const byId = await store.dicts.fromId(d.id);
      await d.put("key", "test_value");
      expect(await byId.get("key")).toBe("test_value");
      await byId.put("another_key", "another_value");
      expect(await byName.get("another_key")).toBe("another_value");
      expect(await d.len()).toBe(2);
    });

    it("create with allowExisting keeps the contents", async () => {
      const store = await h.make();
      const d = await store.dicts.fromName("keep", { createIfMissing: true });
      await d.put("a", 1);
      await store.dicts.create("keep", { allowExisting: true });
      expect(await (await store.dicts.fromName("keep", { createIfMissing: true })).get("a")).toBe(1);
    });

    it("a recreated name starts empty", async () => {
      const store = await h.make();
      const old = await store.dicts.fromName("reborn", { createIfMissing: true });
      await old.update({ a: 1, b: 2 });
      await store.dicts.delete("reborn");
      const fresh = await store.dicts.fromName("reborn", { createIfMissing: true });
      expect(await fresh.len()).toBe(0);
      expect(await fresh.get("a")).toBeUndefined();
      expect(await collect(fresh.keys())).toEqual([]);
    });

    it("every operation on a handle to a deleted dict is NotFoundError, even after the name is reused", async () => {
      const store = await h.make();
      const d: Dict<string, number> = await store.dicts.fromName("gone", { createIfMissing: true });
      await d.put("a", 1);
      await store.dicts.delete("gone");
      await store.dicts.fromName("gone", { createIfMissing: true });
      await expectError(d.get("a"), NotFoundError);
      await expectError(d.put("a", 2), NotFoundError);
      await expectError(d.contains("a"), NotFoundError);
      await expectError(d.pop("a", 0), NotFoundError);
      await expectError(d.update({ b: 2 }), NotFoundError);
      await expectError(d.len(), NotFoundError);
      await expectError(d.clear(), NotFoundError);
      await expectError(() => collect(d.keys()), NotFoundError);
      await expectError(() => collect(d.items()), NotFoundError);
      await expectError(d.info(), NotFoundError);
      expect(await (await store.dicts.fromName("gone")).len()).toBe(0);
    });
  });

  describe("queues: contents follow the object", () => {
    it("handles from fromName and fromId share one queue", async () => {
      const store = await h.make();
      const q = await store.queues.fromName("shared", { createIfMissing: true });
      const byName = await store.queues.fromName("shared");
      const byId = await store.queues.fromId(q.id);
      await q.put("data");
      expect(await byName.get()).toBe("data");
      await byId.put("another_value");
      expect(await q.get()).toBe("another_value");
    });

    it("a recreated name starts empty", async () => {
      const store = await h.make();
      const old = await store.queues.fromName("reborn", { createIfMissing: true });
      await old.putMany([1, 2]);
      await old.put(3, { partition: "p" });
      await store.queues.delete("reborn");
      const fresh = await store.queues.fromName("reborn", { createIfMissing: true });
      expect(await fresh.len({ total: true })).toBe(0);
      expect(await collect(fresh.iterate({ partition: "p" }))).toEqual([]);
    });

    it("every operation on a handle to a deleted queue is NotFoundError, even after the name is reused", async () => {
      const store = await h.make();
      const q: Queue<number> = await store.queues.fromName("gone", { createIfMissing: true });
      await q.put(1);
      await store.queues.delete("gone");
      await store.queues.fromName("gone", { createIfMissing: true });
      await expectError(q.put(2), NotFoundError);
      await expectError(q.putMany([2, 3]), NotFoundError);
      await expectError(q.get({ timeoutMs: 0 }), NotFoundError);
      await expectError(q.get({ timeoutMs: 500 }), NotFoundError);
      await expectError(q.getMany(2, { timeoutMs: 0 }), NotFoundError);
      await expectError(q.len(), NotFoundError);
      await expectError(q.clear(), NotFoundError);
      await expectError(() => collect(q.iterate()), NotFoundError);
      await expectError(q.info(), NotFoundError);
      expect(await (await store.queues.fromName("gone")).len({ total: true })).toBe(0);
    });
  });
}
