// Dict limits, with small overrides so that each check is quick (spec: "update with more
// than dictUpdateEntriesMax entries is RequestSizeError; a value over dictValueBytesMax is
// RequestSizeError; nothing of a rejected call is written", "A dict key over
// dictKeyBytesMax is RequestSizeError", dictBytesMax "ResourceExhaustedError past it").

import { describe, expect, it } from "vitest";
import { RequestSizeError, ResourceExhaustedError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

const entries = (n: number, prefix = "k") => Array.from({ length: n }, (_, i): [string, number] => [`${prefix}${i}`, i]);

export function dictLimitsSuite(h: Harness): void {
  describe("dict: limits", () => {
    it("dictUpdateEntriesMax: an update of that many entries is fine, one more is RequestSizeError", async () => {
      const d = await (await h.make({ limits: { dictUpdateEntriesMax: 5 } })).dicts.ephemeral();
      await d.update(entries(5));
      expect(await d.len()).toBe(5);
      await expectError(d.update(entries(6, "x")), RequestSizeError);
      expect(await d.len()).toBe(5);
      expect(await d.contains("x0")).toBe(false);
    });

    it("dictValueBytesMax: a value over it is RequestSizeError, in put and in update", async () => {
      const d = await (await h.make({ limits: { dictValueBytesMax: 1_000 } })).dicts.ephemeral();
      await d.put("small", "x".repeat(500));
      await expectError(d.put("big", "x".repeat(2_000)), RequestSizeError);
      await expectError(d.put("small", new Uint8Array(1_500)), RequestSizeError);
      await expectError(d.put("big", "x".repeat(2_000), { skipIfExists: true }), RequestSizeError);
      await expectError(d.update({ ok: 1, big: "x".repeat(2_000) }), RequestSizeError);
      expect(await collect(d.items())).toEqual([["small", "x".repeat(500)]]);
    });

    it("dictKeyBytesMax: a key over it is RequestSizeError in put and update", async () => {
      const d = await (await h.make({ limits: { dictKeyBytesMax: 100 } })).dicts.ephemeral();
      await d.put("k".repeat(50), 1);
      await expectError(d.put("k".repeat(200), 1), RequestSizeError);
      await expectError(d.put(new Uint8Array(200), 1), RequestSizeError);
      await expectError(d.put(["k".repeat(60), "k".repeat(60)], 1), RequestSizeError);
      await expectError(d.update({ ok: 1, ["k".repeat(200)]: 2 }), RequestSizeError);
      expect(await d.len()).toBe(1);
    });

    it("dictKeyBytesMax: a key over it is RequestSizeError in reads too", async () => {
      const d = await (await h.make({ limits: { dictKeyBytesMax: 100 } })).dicts.ephemeral();
      const key = "k".repeat(200);
      await expectError(d.get(key), RequestSizeError);
      await expectError(d.contains(key), RequestSizeError);
      await expectError(d.pop(key, 0), RequestSizeError);
    });

    it("dictBytesMax: a write past it is ResourceExhaustedError; freeing room allows writes again", async () => {
      const limits = { dictBytesMax: 10_000, dictValueBytesMax: 5_000, dictKeyBytesMax: 1_000 };
      const store = await h.make({ limits });
      const d = await store.dicts.ephemeral();
      const value = "v".repeat(3_000);
      for (const key of ["a", "b", "c"]) await d.put(key, value);
      await expectError(d.put("d", value), ResourceExhaustedError);
      await expectError(d.update({ d: value, e: "small" }), ResourceExhaustedError);
      expect(await collect(d.keys())).toEqual(["a", "b", "c"]);
      await d.put("a", "w".repeat(3_000));
      await d.pop("a");
      await d.put("d", value);
      await d.clear();
      await d.update({ x: value, y: value, z: value });
      const other = await store.dicts.ephemeral();
      await other.update({ x: value, y: value, z: value });
      expect(await other.len()).toBe(3);
    });
  });
}
