// Dict operations one at a time: put, get, contains, pop, update, len, clear. Translates
// Modal's test_dict_named, test_dict_update, test_dict_put_skip_if_exists, test_dict_pop.

import { describe, expect, it } from "vitest";
import { KeyError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

export function dictBasicSuite(h: Harness): void {
  describe("dict: basic operations", () => {
    it("test_dict_named: put, read-modify-write, len, keys/values/items, clear, null values", async () => {
      const store = await h.make();
      const d = await store.dicts.fromName<string, number | null>("my-amazing-dict", { createIfMissing: true });
      expect(d.name).toBe("my-amazing-dict");
      expect((await d.info()).name).toBe("my-amazing-dict");
      await d.put("xyz", 123);
      await d.put("foo", 42);
      await d.put("foo", ((await d.get("foo")) as number) + 5);
      expect(await d.get("foo")).toBe(47);
      expect(await d.len()).toBe(2);
      expect((await collect(d.keys())).sort()).toEqual(["foo", "xyz"]);
      expect((await collect(d.values())).sort((a, b) => (a as number) - (b as number))).toEqual([47, 123]);
      expect((await collect(d.items())).sort()).toEqual([
        ["foo", 47],
        ["xyz", 123],
      ]);
      await d.clear();
      expect(await d.len()).toBe(0);
      expect(await d.get("foo")).toBeUndefined();
      expect(await d.get("foo", true)).toBe(true);
      await d.put("foo", null);
      expect(await d.get("foo")).toBeNull();
      expect(await d.get("foo", "fallback")).toBeNull();
      expect(await d.contains("foo")).toBe(true);
    });

    it("put returns true when it writes, overwriting included", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      expect(await d.put("k", 1)).toBe(true);
      expect(await d.put("k", 2)).toBe(true);
      expect(await d.get("k")).toBe(2);
      expect(await d.len()).toBe(1);
    });

    it("test_dict_put_skip_if_exists: false and nothing written when the key exists", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      expect(await d.put("foo", 1, { skipIfExists: true })).toBe(true);
      expect(await d.put("foo", 2, { skipIfExists: true })).toBe(false);
      expect(await collect(d.items())).toEqual([["foo", 1]]);
      expect(await d.put("foo", 3, { skipIfExists: false })).toBe(true);
      expect(await d.get("foo")).toBe(3);
    });

    it("skipIfExists finds a key whose value is null", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.put("k", null);
      expect(await d.put("k", 1, { skipIfExists: true })).toBe(false);
      expect(await d.get("k", "missing")).toBeNull();
    });

    it("get gives undefined or the fallback for a missing key", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      expect(await d.get("nope")).toBeUndefined();
      expect(await d.get("nope", 0)).toBe(0);
      expect(await d.get("nope", null)).toBeNull();
      expect(await d.contains("nope")).toBe(false);
    });

    it("test_dict_pop: removes and returns; fallback or KeyError when missing", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.put("existing_key", "existing_value");
      expect(await d.pop("existing_key")).toBe("existing_value");
      expect(await d.contains("existing_key")).toBe(false);
      expect(await d.len()).toBe(0);
      expect(await d.pop("non_existent_key", "default_value")).toBe("default_value");
      expect(await d.pop("non_existent_key", null)).toBeNull();
      await expectError(d.pop("non_existent_key"), KeyError);
      await d.put("n", null);
      expect(await d.pop("n", "fallback")).toBeNull();
      expect(await d.contains("n")).toBe(false);
    });

    it("test_dict_update: a plain object, a Map or an iterable of pairs; later entries win", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.update({ foo: 1, bar: 2 });
      await d.update(new Map<string, number>([["foo", 3], ["baz", 4]]));
      expect(await collect(d.items())).toEqual([
        ["bar", 2],
        ["baz", 4],
        ["foo", 3],
      ]);
      await d.update([
        ["x", 1],
        ["x", 2],
      ]);
      function* pairs(): Generator<[string, number]> {
        yield ["gen", 7];
      }
      await d.update(pairs());
      await d.update({});
      await d.update([]);
      expect(await d.get("x")).toBe(2);
      expect(await d.get("gen")).toBe(7);
      expect(await d.len()).toBe(5);
    });

    it("update takes non-string keys from a Map or pairs", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.update(
        new Map<unknown, string>([
          [1, "number"],
          ["1", "string"],
          [[1, 2], "array"],
        ]) as Map<never, string>,
      );
      await d.update([[true, "bool"] as const] as never);
      expect(await d.get(1)).toBe("number");
      expect(await d.get("1")).toBe("string");
      expect(await d.get([1, 2])).toBe("array");
      expect(await d.get(true)).toBe("bool");
    });

    it("clear empties the dict, and it stays usable", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.update({ a: 1, b: 2, c: 3 });
      await d.clear();
      expect(await d.len()).toBe(0);
      expect(await collect(d.keys())).toEqual([]);
      await d.clear();
      await d.put("a", 4);
      expect(await d.get("a")).toBe(4);
      expect(await d.len()).toBe(1);
    });

    it("dicts are independent of each other", async () => {
      const store = await h.make();
      const a = await store.dicts.fromName("a", { createIfMissing: true });
      const b = await store.dicts.fromName("b", { createIfMissing: true });
      await a.put("k", "in a");
      expect(await b.contains("k")).toBe(false);
      await b.clear();
      expect(await a.get("k")).toBe("in a");
    });
  });
}
