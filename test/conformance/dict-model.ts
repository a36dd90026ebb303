// A dict against an obviously-correct model: random sequences of operations on a few keys
// of different types (so that 1, "1", 1n, [1] and true collide if the store confuses
// them), checking every result. fast-check prints the seed and a shrunk sequence on failure.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Dict, DictKey } from "../../proto/api.ts";
import type { Harness } from "./harness.ts";
import { compareKeys, keyIdentity } from "./key-order.ts";
import { collect } from "./waiting.ts";

type Op =
  | { op: "put"; key: DictKey; value: number; skipIfExists: boolean }
  | { op: "get" | "contains" | "pop"; key: DictKey }
  | { op: "update"; entries: Array<[DictKey, number]> }
  | { op: "len" | "clear" | "items" };

const key = fc.constantFrom<DictKey>(1, "1", 1n, [1], true, "a", "", new Uint8Array([1]), -2.5, ["a", [2n]]);
const value = fc.integer({ min: -5, max: 5 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key, value, skipIfExists: fc.boolean() }),
  fc.record({ op: fc.constantFrom("get" as const, "contains" as const, "pop" as const), key }),
  fc.record({ op: fc.constant("update" as const), entries: fc.array(fc.tuple(key, value), { maxLength: 4 }) }),
  fc.record({ op: fc.constantFrom("len" as const, "clear" as const, "items" as const) }),
);

const MISSING = "<missing>";

async function step(d: Dict<DictKey, number>, model: Map<string, [DictKey, number]>, o: Op): Promise<void> {
  switch (o.op) {
    case "put": {
      const written = !(o.skipIfExists && model.has(keyIdentity(o.key)));
      if (written) model.set(keyIdentity(o.key), [o.key, o.value]);
      expect(await d.put(o.key, o.value, { skipIfExists: o.skipIfExists })).toBe(written);
      return;
    }
    case "get":
      expect(await d.get(o.key, MISSING)).toBe(model.get(keyIdentity(o.key))?.[1] ?? MISSING);
      return;
    case "contains":
      expect(await d.contains(o.key)).toBe(model.has(keyIdentity(o.key)));
      return;
    case "pop": {
      const expected = model.get(keyIdentity(o.key))?.[1] ?? MISSING;
      model.delete(keyIdentity(o.key));
      expect(await d.pop(o.key, MISSING)).toBe(expected);
      return;
    }
    case "update":
      for (const [k, v] of o.entries) model.set(keyIdentity(k), [k, v]);
      await d.update(o.entries);
      return;
    case "len":
      expect(await d.len()).toBe(model.size);
      return;
    case "clear":
      model.clear();
      await d.clear();
      return;
    case "items": {
      const expected = [...model.values()].sort(([a], [b]) => compareKeys(a, b));
      expect(await collect(d.items())).toStrictEqual(expected);
      return;
    }
  }
}

export function dictModelSuite(h: Harness): void {
  describe("dict: against a model", () => {
    it("random operation sequences give the model's results", async () => {
      const store = await h.make();
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
          const d = await store.dicts.ephemeral<DictKey, number>();
          try {
            const model = new Map<string, [DictKey, number]>();
            for (const o of ops) await step(d, model, o);
            await step(d, model, { op: "items" });
          } finally {
            await d.close();
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}
