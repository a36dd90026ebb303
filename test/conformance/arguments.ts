// Argument mistakes a JavaScript caller can make past the TypeScript types: options that
// are not objects, flags that are not booleans, names far too long, an object that is not
// a set of entries. Each is the same InvalidError on every store (spec: "The same class
// and code arrive whether the store is embedded or remote"), and does nothing. A flag
// like skipIfExists: "true" must never be read as false: that would turn a lock into an
// overwrite.

import { describe, expect, it } from "vitest";
import { InvalidError, NotFoundError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { KINDS, service } from "./kinds.ts";

// The types forbid these; a JavaScript caller can still pass them.
type Loose = any;
const loose = (value: unknown): Loose => value;

export function argumentsSuite(h: Harness): void {
  for (const kind of KINDS) {
    describe(`${kind}: argument mistakes in the object service`, () => {
      it("a flag that is not a boolean is InvalidError, and nothing is done", async () => {
        const objects = service(await h.make(), kind);
        for (const flag of ["no", "true", 1, 0, {}]) {
          await expectError(objects.fromName("made", { createIfMissing: loose(flag) }), InvalidError);
          await expectError(objects.create("made", { allowExisting: loose(flag) }), InvalidError);
          await expectError(objects.delete("missing", { allowMissing: loose(flag) }), InvalidError);
        }
        expect(await objects.list()).toEqual([]);
        await objects.create("there");
        await expectError(objects.create("there", { allowExisting: loose("yes") }), InvalidError);
        await expectError(objects.delete("there", { allowMissing: loose("yes") }), InvalidError);
        expect((await objects.list()).map((o) => o.name)).toEqual(["there"]);
      });

      it("options that are not an object are InvalidError; null means none", async () => {
        const objects = service(await h.make(), kind);
        for (const options of ["str", 5, true, []]) {
          await expectError(objects.fromName("x", loose(options)), InvalidError);
          await expectError(objects.ephemeral(loose(options)), InvalidError);
          await expectError(objects.create("x", loose(options)), InvalidError);
          await expectError(objects.list(loose(options)), InvalidError);
          await expectError(objects.delete("x", loose(options)), InvalidError);
        }
        expect(await objects.list()).toEqual([]);
        await objects.create("x", loose(null));
        expect((await objects.fromName("x", loose(null))).name).toBe("x");
        expect((await objects.list(loose(null))).map((o) => o.name)).toEqual(["x"]);
        await objects.delete("x", loose(null));
        expect(await objects.list()).toEqual([]);
      });

      it("a name or environment of thousands of characters is InvalidError; such an id names nothing", async () => {
        const objects = service(await h.make(), kind);
        const long = "x".repeat(5_000);
        await expectError(objects.fromName(long, { createIfMissing: true }), InvalidError);
        await expectError(objects.create(long), InvalidError);
        await expectError(objects.delete(long), InvalidError);
        await expectError(objects.fromName("x", { environment: `e${long}`, createIfMissing: true }), InvalidError);
        await expectError(objects.list({ environment: `e${long}` }), InvalidError);
        await expectError(objects.fromId(`${kind === "dicts" ? "di-" : "qu-"}${long}`), NotFoundError);
        // The message says what is allowed without repeating all of the name.
        const err = (await objects.fromName(long).catch((e: unknown) => e)) as Error;
        expect(err.message).toMatch(/1 to 64 characters/);
        expect(err.message.length).toBeLessThan(500);
      });

      it("list: maxObjects null or Infinity means no limit", async () => {
        const objects = service(await h.make(), kind);
        await objects.create("a");
        await objects.create("b");
        expect(await objects.list({ maxObjects: loose(null) })).toHaveLength(2);
        expect(await objects.list({ maxObjects: Infinity })).toHaveLength(2);
      });
    });
  }

  describe("dict: argument mistakes", () => {
    it('put with skipIfExists that is not a boolean is InvalidError and writes nothing (never read as false)', async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.put("lock", "first");
      for (const flag of ["true", 1, "false", 0]) {
        await expectError(d.put("lock", "second", { skipIfExists: loose(flag) }), InvalidError);
      }
      expect(await d.get("lock")).toBe("first");
      await expectError(d.put("k", 1, loose("x")), InvalidError);
      expect(await d.put("k", 1, loose(null))).toBe(true);
    });

    it("update of a Date, a class instance or a primitive is InvalidError and writes nothing", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      class Entries {
        a = 1;
      }
      for (const entries of [new Date(5), new Entries(), 5, "ab", null]) {
        await expectError(d.update(loose(entries)), InvalidError);
      }
      expect(await d.len()).toBe(0);
    });
  });

  describe("the clock option", () => {
    it("a clock whose now() is not a finite number is InvalidError when the store opens", async () => {
      for (const now of [() => "1000", () => NaN, () => new Date(5), () => Infinity]) {
        await expectError(h.make({ clock: loose({ now }) }), InvalidError);
      }
    });
  });

  describe("Modal's option names from before the unit suffix", () => {
    it("timeout, partitionTtl, itemPollTimeout and entryTtl are InvalidError naming the new name", async () => {
      const store = await h.make();
      const q = await store.queues.ephemeral();
      const renamed = async (call: Promise<unknown>, name: string): Promise<void> => {
        const err = await expectError(call, InvalidError);
        expect(err.message).toBe(`Parameter '${name}' has been renamed to '${name}Ms'.`);
      };
      await renamed(q.get(loose({ timeout: 300 })), "timeout");
      await renamed(q.getMany(2, loose({ timeout: 300 })), "timeout");
      await renamed(q.put(1, loose({ timeout: 300 })), "timeout");
      await renamed(q.put(1, loose({ partitionTtl: 10 })), "partitionTtl");
      await renamed(q.iterate(loose({ itemPollTimeout: 1 })).next(), "itemPollTimeout");
      await renamed(store.dicts.fromName("c", loose({ createIfMissing: true, entryTtl: 10 })), "entryTtl");
      expect(await q.len()).toBe(0);
    });
  });

  describe("queue: argument mistakes", () => {
    it("entryTtlMs on a queue is InvalidError, and nothing is created", async () => {
      const store = await h.make();
      await expectError(store.queues.fromName("q", loose({ createIfMissing: true, entryTtlMs: 1000 })), InvalidError);
      await expectError(store.queues.ephemeral(loose({ entryTtlMs: 1000 })), InvalidError);
      await expectError(store.queues.create("q", loose({ entryTtlMs: 1000 })), InvalidError);
      expect(await store.queues.list()).toEqual([]);
    });

    it("len and clear flags that are not booleans are InvalidError, and nothing is cleared", async () => {
      const q = await (await h.make()).queues.ephemeral();
      await q.putMany([1, 2], { partition: "p" });
      await q.put(3);
      for (const flag of ["yes", 1]) {
        await expectError(q.len({ total: loose(flag) }), InvalidError);
        await expectError(q.clear({ all: loose(flag) }), InvalidError);
      }
      expect(await q.len({ total: true })).toBe(3);
    });

    it("options that are not an object are InvalidError; null means none", async () => {
      const q = await (await h.make()).queues.ephemeral();
      for (const options of ["p", 5, []]) {
        await expectError(q.put(1, loose(options)), InvalidError);
        await expectError(q.putMany([1], loose(options)), InvalidError);
        await expectError(q.get(loose(options)), InvalidError);
        await expectError(q.getMany(1, loose(options)), InvalidError);
        await expectError(q.len(loose(options)), InvalidError);
        await expectError(q.clear(loose(options)), InvalidError);
      }
      expect(await q.len()).toBe(0);
      // A hole in the array is an undefined item: refused as undefined is, nothing written.
      const hole = await expectError(q.putMany(loose([1, , 3])), InvalidError);
      expect(hole.message).toMatch(/undefined cannot be stored/);
      expect(await q.len()).toBe(0);
      await q.put(1, loose(null));
      expect(await q.len(loose(null))).toBe(1);
      expect(await q.getMany(5, { timeoutMs: 0 })).toEqual([1]);
    });
  });
}
