// Dict keys (spec: "string, number, bigint, boolean, Uint8Array, or arrays of these. Two
// keys are the same key when their encodings are equal bytes ... Any other key type is
// InvalidError. keys() order is the encoded-key order and is documented; it is stable.")
// The order checked here is the one documented in proto/keys.ts; see ./key-order.ts.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DictKey } from "../../proto/api.ts";
import { InvalidError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { keyIdentity, sortedUniqueKeys } from "./key-order.ts";
import { collect } from "./waiting.ts";

/** One of each kind of key, already in the documented order. */
const ORDERED_KEYS: DictKey[] = [
  false,
  true,
  -Infinity,
  -1.5,
  0,
  1,
  2 ** 60,
  Infinity,
  NaN,
  -(2n ** 70n),
  -1n,
  0n,
  1n,
  256n,
  2n ** 100n,
  "",
  "a",
  "a\u0000b",
  "b",
  "\uffff",
  "😀",
  new Uint8Array([]),
  new Uint8Array([0]),
  new Uint8Array([0, 0]),
  new Uint8Array([1]),
  new Uint8Array([255]),
  [],
  [false],
  [1],
  [1, "x"],
  ["a"],
  [new Uint8Array([0])],
  [[]],
  [[1n, [true]]],
];

const INVALID_KEYS: unknown[] = [
  null,
  undefined,
  {},
  { a: 1 },
  new Date(0),
  new Map(),
  new Set(),
  Symbol("s"),
  () => 1,
  new Uint16Array([1]),
  new Int8Array([1]),
  [null],
  [undefined],
  [{}],
  [1, [new Date(0)]],
];

function shuffled<T>(items: readonly T[]): T[] {
  return items.map((item, i) => ({ item, sort: (i * 7919) % items.length })).sort((a, b) => a.sort - b.sort).map((x) => x.item);
}

const atomKey: fc.Arbitrary<DictKey> = fc.oneof(
  fc.boolean(),
  fc.double().map((x) => (Object.is(x, -0) ? 0 : x)),
  fc.integer({ min: -1000, max: 1000 }),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.uint8Array({ maxLength: 6 }),
);
const anyKey: fc.Arbitrary<DictKey> = fc.letrec<{ key: DictKey }>((tie) => ({
  key: fc.oneof({ depthSize: "small", withCrossShrink: true }, atomKey, fc.array(tie("key"), { maxLength: 3 })),
})).key;

export function dictKeysSuite(h: Harness): void {
  describe("dict: keys", () => {
    it("every key type is a key, and keys() gives each back as itself", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      for (const [i, key] of ORDERED_KEYS.entries()) await d.put(key, i);
      expect(await d.len()).toBe(ORDERED_KEYS.length);
      for (const [i, key] of ORDERED_KEYS.entries()) {
        expect(await d.get(key), `get(${keyIdentity(key)})`).toBe(i);
        expect(await d.contains(key)).toBe(true);
      }
      expect(await collect(d.keys())).toStrictEqual(ORDERED_KEYS);
    });

    it("keys() follows the documented order, whatever the insertion order", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.update(shuffled(ORDERED_KEYS).map((k): [DictKey, string] => [k, keyIdentity(k)]));
      expect(await collect(d.keys())).toStrictEqual(ORDERED_KEYS);
      expect(await collect(d.values())).toEqual(ORDERED_KEYS.map(keyIdentity));
      expect((await collect(d.items())).map(([k]) => k)).toStrictEqual(ORDERED_KEYS);
    });

    it("1, '1', 1n, [1] and true are five different keys", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      const keys: DictKey[] = [1, "1", 1n, [1], true];
      for (const key of keys) await d.put(key, keyIdentity(key));
      expect(await d.len()).toBe(5);
      for (const key of keys) expect(await d.get(key)).toBe(keyIdentity(key));
      await d.pop("1");
      expect(await d.contains(1)).toBe(true);
      expect(await d.contains("1")).toBe(false);
    });

    it("keys with equal encodings are one key: -0 and 0, a Buffer and a Uint8Array, equal arrays", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.put(0, "zero");
      await d.put(-0, "minus zero");
      await d.put(new Uint8Array([1, 2]), "bytes");
      await d.put(Buffer.from([1, 2]), "buffer");
      await d.put(["a", [1n]], "array");
      await d.put(["a", [1n]], "same array");
      expect(await d.len()).toBe(3);
      expect(await d.get(0)).toBe("minus zero");
      expect(await d.get(new Uint8Array([1, 2]))).toBe("buffer");
      expect(await d.get(["a", [1n]])).toBe("same array");
    });

    it("strings are compared by their bytes: composed and decomposed é are two keys", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.put("\u00e9", "composed");
      await d.put("e\u0301", "decomposed");
      expect(await d.len()).toBe(2);
      expect(await d.get("\u00e9")).toBe("composed");
    });

    it("any other key type is InvalidError in every call, and nothing is written", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.put("kept", 1);
      for (const key of INVALID_KEYS) {
        const k = key as DictKey;
        await expectError(() => d.put(k, 1), InvalidError);
        await expectError(() => d.put(k, 1, { skipIfExists: true }), InvalidError);
        await expectError(() => d.get(k), InvalidError);
        await expectError(() => d.contains(k), InvalidError);
        await expectError(() => d.pop(k, 0), InvalidError);
        await expectError(() => d.update(new Map([["ok", 1], [k, 2]])), InvalidError);
      }
      expect(await collect(d.items())).toEqual([["kept", 1]]);
    });

    it("property: any set of keys round-trips and keys() lists it in the documented order", async () => {
      const store = await h.make();
      await fc.assert(
        fc.asyncProperty(fc.array(anyKey, { maxLength: 20 }), async (keys) => {
          const d = await store.dicts.ephemeral();
          try {
            for (const key of keys) await d.put(key, keyIdentity(key));
            const expected = sortedUniqueKeys(keys);
            expect(await collect(d.keys())).toStrictEqual(expected);
            for (const key of expected) expect(await d.get(key)).toBe(keyIdentity(key));
          } finally {
            await d.close();
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}
