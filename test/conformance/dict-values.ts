// Values (spec: "null, booleans, numbers (finite and not), strings, bigint, Date, Uint8Array,
// arrays, plain objects, Map, Set, and nestings of these, compared by deep equality after a
// round trip ... a function, a symbol is InvalidError at put time, never silently altered.
// undefined as a whole value is InvalidError"; "Values round-trip exactly, -0 and NaN
// included"). Queue items use the same codec, so each case is checked through both.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

export const ROUND_TRIP_VALUES: Array<[string, unknown]> = [
  ["null", null],
  ["true", true],
  ["false", false],
  ["zero", 0],
  ["minus zero", -0],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["-Infinity", -Infinity],
  ["a fraction", -1.25],
  ["the largest safe integer", Number.MAX_SAFE_INTEGER],
  ["a number beyond 32 bits", 2 ** 40],
  ["a number beyond 2^53", 2 ** 60],
  ["the smallest double", Number.MIN_VALUE],
  ["the empty string", ""],
  ["a unicode string", "héllo wörld 😀 \u0000 end"],
  ["a small bigint", 5n],
  ["a negative bigint", -7n],
  ["a bigint beyond 64 bits", 2n ** 100n + 1n],
  ["a negative bigint beyond 64 bits", -(2n ** 70n)],
  ["a Date", new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789))],
  ["an old Date", new Date(-1e12)],
  ["an empty Uint8Array", new Uint8Array([])],
  ["a Uint8Array", new Uint8Array([0, 1, 2, 254, 255])],
  ["a Uint8Array of 70,000 bytes", new Uint8Array(70_000).map((_, i) => i % 251)],
  ["a Buffer (it stays a Buffer)", Buffer.from([0, 1, 2, 254, 255])],
  ["an empty Buffer", Buffer.alloc(0)],
  ["a Buffer of 300 bytes", Buffer.alloc(300, 7)],
  ["Buffers and Uint8Arrays inside an object, an array and a Map (each keeps its class)", { b: Buffer.from([1, 2, 3]), u: new Uint8Array([4]), list: [Buffer.alloc(2, 9)], map: new Map([["k", Buffer.from([5])]]) }],
  ["a string of 70,000 characters", "x😀".repeat(23_334)],
  ["an empty array", []],
  ["an array of mixed values", [1, "two", null, 3n, [4]]],
  ["an empty object", {}],
  ["a plain object", { a: 1, b: "x", c: [true], "with space": null }],
  ["a Map with non-string keys", new Map<unknown, unknown>([[1, "one"], ["1", "string one"], [true, [1]]])],
  ["a Set", new Set([1, "1", 2n])],
  ["an empty Map and Set", [new Map(), new Set()]],
  [
    "a deep nesting",
    { list: [new Map([["k", new Set([new Date(5), { inner: [-0, NaN, new Uint8Array([9])] }])]])], big: 2n ** 80n },
  ],
];

export const UNENCODABLE_VALUES: Array<[string, unknown]> = [
  ["a function", () => 1],
  ["a symbol", Symbol("s")],
  ["undefined", undefined],
  ["a class instance", new (class Point {
    x = 1;
  })()],
  ["a function inside an object", { f: () => 1 }],
  ["a symbol inside an array", [1, Symbol("s")]],
  ["a function as a Map value", new Map([["k", () => 1]])],
  ["a class instance deep inside", { a: [{ b: new Set([new (class Inner {})()]) }] }],
  // UTF-8 has no form for these: stored, they would come back as U+FFFD.
  ["a string with a lone surrogate", "a\ud800b"],
  ["a lone surrogate inside an array", [1, "\udc00"]],
  ["an object key with a lone surrogate", { "k\ud800": 1 }],
  ["a Map key with a lone surrogate", new Map([["\udfff", 1]])],
  // msgpackr would bring it back as "__proto_" (and overwrite a real "__proto_" key).
  ['an object with an own "__proto__" key', JSON.parse('{"__proto_":"keep","__proto__":{"x":1}}')],
  ['a nested own "__proto__" key', [{ a: JSON.parse('{"__proto__":1}') }]],
  // MessagePack maps have no symbol keys: the property would be dropped.
  ["an object with a symbol key", { a: 1, [Symbol("s")]: 2 }],
  // msgpackr recurses; past a fixed depth the codec refuses instead of overflowing the stack.
  ["arrays nested 513 deep", nest(513, (x) => [x])],
  ["objects and Maps nested 5,000 deep", nest(5_000, (x, i) => (i % 2 ? { a: x } : new Map([[i, x]])))],
];

function nest(levels: number, wrap: (inner: unknown, level: number) => unknown): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < levels; i++) value = wrap(value, i);
  return value;
}

const leafValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.integer(),
  fc.string({ unit: "binary", maxLength: 10 }),
  fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n }),
  fc.date({ noInvalidDate: true }),
  fc.uint8Array({ maxLength: 8 }),
);
const anyValue = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafValue,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== "__proto__"), tie("value"), { maxKeys: 4, noNullPrototype: true }),
    fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), tie("value")), { maxLength: 3 }).map((e) => new Map(e)),
    fc.array(leafValue, { maxLength: 4 }).map((e) => new Set(e)),
  ),
})).value;

export function dictValuesSuite(h: Harness): void {
  describe("values: round trips and refusals", () => {
    for (const [label, value] of ROUND_TRIP_VALUES) {
      it(`${label} round-trips through a dict and a queue`, async () => {
        const store = await h.make();
        const d = await store.dicts.ephemeral();
        await d.put("k", value);
        expect(await d.get("k")).toStrictEqual(value);
        expect(await collect(d.values())).toStrictEqual([value]);
        expect(await d.pop("k")).toStrictEqual(value);
        await d.update({ u: value });
        expect(await d.get("u")).toStrictEqual(value);
        const q = await store.queues.ephemeral();
        await q.put(value);
        await q.putMany([value, value]);
        expect(await collect(q.iterate())).toStrictEqual([value, value, value]);
        expect(await q.get()).toStrictEqual(value);
        expect(await q.getMany(2)).toStrictEqual([value, value]);
      });
    }

    it("a value nested 512 deep (the codec's limit) round-trips", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      const value = nest(512, (x, i) => (i % 3 === 0 ? [x] : i % 3 === 1 ? { a: x } : new Set([x])));
      await d.put("deep", value);
      expect(await d.get("deep")).toEqual(value);
    });

    it("-0 and NaN come back as themselves", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.update({ z: -0, n: NaN, both: [-0, NaN] });
      expect(Object.is(await d.get("z"), -0)).toBe(true);
      expect(Number.isNaN(await d.get("n"))).toBe(true);
      const both = (await d.get("both")) as number[];
      expect(Object.is(both[0], -0) && Number.isNaN(both[1])).toBe(true);
    });

    it("numbers stay numbers and bigints stay bigints", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      await d.update({ int: 2 ** 40, big: 3n, huge: 2n ** 64n });
      expect(typeof (await d.get("int"))).toBe("number");
      expect(typeof (await d.get("big"))).toBe("bigint");
      expect(await d.get("huge")).toBe(2n ** 64n);
    });

    for (const [label, value] of UNENCODABLE_VALUES) {
      it(`${label} is InvalidError at put time, and nothing is written`, async () => {
        const store = await h.make();
        const d = await store.dicts.ephemeral();
        await d.put("k", "before");
        await expectError(() => d.put("k", value), InvalidError);
        await expectError(() => d.put("new", value), InvalidError);
        await expectError(() => d.put("new", value, { skipIfExists: true }), InvalidError);
        await expectError(() => d.update(new Map([["ok", 1], ["bad", value]])), InvalidError);
        expect(await collect(d.items())).toEqual([["k", "before"]]);
        const q = await store.queues.ephemeral();
        await expectError(() => q.put(value), InvalidError);
        await expectError(() => q.putMany([1, value, 3]), InvalidError);
        expect(await q.len()).toBe(0);
      });
    }

    it("property: any value of the spec's types round-trips by deep equality", async () => {
      const store = await h.make();
      const d = await store.dicts.ephemeral();
      const q = await store.queues.ephemeral();
      await fc.assert(
        fc.asyncProperty(anyValue, async (value) => {
          await d.put("v", value);
          expect(await d.get("v")).toStrictEqual(value);
          await q.put(value);
          expect(await q.get({ timeoutMs: 0 })).toStrictEqual(value);
        }),
        { numRuns: 100 },
      );
    });
  });
}
