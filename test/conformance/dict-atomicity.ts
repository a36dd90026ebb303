// Atomicity (spec: "put with skipIfExists is atomic: among concurrent callers exactly one
// gets true. pop is atomic too: among concurrent pops of one key, exactly one gets the
// value"; update is "one atomic write" and "nothing of a rejected call is written").
// Concurrent callers go through several handles, as separate clients would.

import { describe, expect, it } from "vitest";
import type { Dict, Store } from "../../proto/api.ts";
import { InvalidError, KeyError, RequestSizeError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

const CALLERS = 16;

async function handles(store: Store, name: string, count: number): Promise<Array<Dict<string, unknown>>> {
  const out = [];
  for (let i = 0; i < count; i++) out.push(await store.dicts.fromName<string, unknown>(name, { createIfMissing: true }));
  return out;
}

export function dictAtomicitySuite(h: Harness): void {
  describe("dict: atomicity", () => {
    it("concurrent put with skipIfExists: exactly one caller gets true, and its value is kept", async () => {
      const store = await h.make();
      const ds = await handles(store, "lock", 4);
      for (let round = 0; round < 5; round++) {
        const key = `lock-${round}`;
        const results = await Promise.all(
          Array.from({ length: CALLERS }, (_, i) => ds[i % ds.length]!.put(key, `owner ${i}`, { skipIfExists: true })),
        );
        expect(results.filter((won) => won).length).toBe(1);
        expect(await ds[0]!.get(key)).toBe(`owner ${results.indexOf(true)}`);
      }
    });

    it("concurrent pops of one key: exactly one gets the value", async () => {
      const store = await h.make();
      const ds = await handles(store, "pops", 4);
      for (let round = 0; round < 5; round++) {
        await ds[0]!.put("k", `value ${round}`);
        const missing = Symbol("missing");
        const results = await Promise.all(Array.from({ length: CALLERS }, (_, i) => ds[i % ds.length]!.pop("k", missing)));
        expect(results.filter((r) => r !== missing)).toEqual([`value ${round}`]);
        expect(await ds[0]!.contains("k")).toBe(false);
      }
    });

    it("concurrent pops without a fallback: one value, every other caller KeyError", async () => {
      const store = await h.make();
      const ds = await handles(store, "pops", 4);
      await ds[0]!.put("k", "only");
      const results = await Promise.allSettled(Array.from({ length: CALLERS }, (_, i) => ds[i % ds.length]!.pop("k")));
      const won = results.filter((r) => r.status === "fulfilled");
      expect(won.map((r) => (r as PromiseFulfilledResult<unknown>).value)).toEqual(["only"]);
      for (const r of results) {
        if (r.status === "rejected") await expectError(Promise.reject(r.reason), KeyError);
      }
    });

    it("readers see all of an update or none of it", async () => {
      const store = await h.make();
      const [writer, reader] = await handles(store, "big-update", 2);
      const entries = Array.from({ length: 300 }, (_, i): [string, number] => [`k${String(i).padStart(3, "0")}`, i]);
      const seen = new Set<number>();
      let done = false;
      const reading = (async () => {
        while (!done) {
          seen.add(await reader!.len());
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await writer!.update(entries);
      done = true;
      await reading;
      seen.add(await reader!.len());
      expect([...seen].every((n) => n === 0 || n === 300), `lengths seen: ${[...seen].join(", ")}`).toBe(true);
      expect(await collect(reader!.keys())).toEqual(entries.map(([k]) => k));
    });

    it("an update with one bad key or value writes nothing", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.put("a", "old");
      await expectError(() => d.update(new Map<unknown, unknown>([["a", "new"], ["b", 1], [{}, 2]]) as never), InvalidError);
      await expectError(d.update({ a: "new", b: 1, c: () => 3 }), InvalidError);
      await expectError(d.update({ a: "new", b: 1, c: undefined }), InvalidError);
      expect(await collect(d.items())).toEqual([["a", "old"]]);
    });

    it("an update with one value over dictValueBytesMax writes nothing", async () => {
      const d = await (await h.make({ limits: { dictValueBytesMax: 1_000 } })).dicts.ephemeral();
      await d.put("a", "old");
      await expectError(d.update({ a: "new", b: "small", c: "x".repeat(2_000) }), RequestSizeError);
      expect(await collect(d.items())).toEqual([["a", "old"]]);
    });
  });
}
