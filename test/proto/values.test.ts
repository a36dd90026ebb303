// The value codec, format 3 (proto/values.ts, docs/format.md): golden bytes for every type
// and extension, canonical writing at every header boundary, what a standard MessagePack
// implementation reads and writes, and garbage refused with DeserializationError, never a
// crash, a hang or a wrong value.

import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { DeserializationError, InvalidError } from "../../proto/errors.ts";
import { VALUE_NESTING_MAX, decodeValue, encodeValue } from "../../proto/values.ts";
import { GOLDEN } from "./golden-values.ts";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");


function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Standard MessagePack, for comparison: msgpackr without records, with the smallest map headers. */
const standard = new Packr({ useRecords: false, variableMapSize: true, mapsAsObjects: true });

describe("value codec, format 3: golden bytes", () => {
  for (const [label, value, bytes] of GOLDEN) {
    it(`${label} is ${bytes}, and reads back as itself`, () => {
      expect(encodeValue(value).toString("hex")).toBe(hex(bytes).toString("hex"));
      expect(decodeValue(hex(bytes))).toStrictEqual(value);
    });
  }

  it("-0 and NaN read back as themselves (toStrictEqual does not tell -0 from 0 in every version)", () => {
    expect(Object.is(decodeValue(encodeValue(-0)), -0)).toBe(true);
    expect(Object.is((decodeValue(encodeValue([-0])) as number[])[0], -0)).toBe(true);
    // Any NaN is written as the one NaN.
    const other = new Float64Array(new BigUint64Array([0x7ff0000000000001n]).buffer)[0]!;
    expect(encodeValue(other).toString("hex")).toBe("cb7ff8000000000000");
  });

  it("each header at its boundaries is the smallest form, and reads back", () => {
    const cases: Array<[unknown, string]> = [
      ["a".repeat(31), "bf"],
      ["a".repeat(32), "d9 20"],
      ["é".repeat(15) + "a", "bf"],
      ["é".repeat(16), "d9 20"],
      ["a".repeat(255), "d9 ff"],
      ["a".repeat(256), "da 01 00"],
      ["a".repeat(65_535), "da ff ff"],
      ["a".repeat(65_536), "db 00 01 00 00"],
      [bytesOf(255, 1), "c4 ff"],
      [bytesOf(256, 1), "c5 01 00"],
      [bytesOf(65_536, 1), "c6 00 01 00 00"],
      [Array(15).fill(0), "9f"],
      [Array(16).fill(0), "dc 00 10"],
      [Array(65_536).fill(0), "dd 00 01 00 00"],
      [Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, 0])), "8f"],
      [Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 0])), "de 00 10"],
      [127, "7f"],
      [128, "cc 80"],
      [255, "cc ff"],
      [256, "cd 01 00"],
      [65_535, "cd ff ff"],
      [65_536, "ce 00 01 00 00"],
      [2 ** 32 - 1, "ce ff ff ff ff"],
      [-32, "e0"],
      [-128, "d0 80"],
      [-129, "d1 ff 7f"],
      [-32_768, "d1 80 00"],
      [-32_769, "d2 ff ff 7f ff"],
      [new Set(Array.from({ length: 15 }, (_, i) => i)), "d8 03 9f"], // payload of 16 bytes: fixext 16
      [new Map([["a".repeat(250), 1]]), "c7 fe 02 81 d9 fa"], // payload of 254 bytes: ext 8
      [new Map([["a".repeat(260), 1]]), "c8 01 09 02 81 da 01 04"], // ext 16
      [new Set(["a".repeat(70_000)]), "c9 00 01 11 76 03 91 db 00 01 11 70"], // ext 32
    ];
    for (const [value, head] of cases) {
      const bytes = encodeValue(value);
      expect(bytes.subarray(0, hex(head).length).toString("hex"), head).toBe(hex(head).toString("hex"));
      expect(decodeValue(bytes)).toStrictEqual(value);
    }
  });

  it("a Buffer or Uint8Array alone (the fast paths) is written and read as inside an array (the general path)", () => {
    for (const n of [0, 1, 2, 3, 7, 15, 16, 17, 254, 255, 256, 65_534, 65_535, 65_536, 70_000]) {
      for (const value of [bytesOf(n, n), Buffer.from(bytesOf(n, n + 1))]) {
        const alone = encodeValue(value);
        expect(alone.equals(encodeValue([value]).subarray(1)), `${n}`).toBe(true);
        const back = decodeValue(alone);
        expect(back).toStrictEqual(value);
        expect((decodeValue(encodeValue([value])) as unknown[])[0]).toStrictEqual(value);
      }
    }
  });

  it("a string alone (the fast paths) is written and read as inside an array (the general path)", () => {
    for (const n of [0, 1, 7, 8, 15, 16, 31, 32, 33, 255, 256, 65_535, 65_536, 70_000]) {
      for (const value of ["a".repeat(n), "é".repeat(n >> 1) + "a".repeat(n & 1), "😀".repeat(n >> 2) + "\ufffd"]) {
        const alone = encodeValue(value);
        expect(alone.equals(encodeValue([value]).subarray(1)), `${n}`).toBe(true);
        expect(decodeValue(alone)).toBe(value);
        expect(decodeValue(new Uint8Array(alone))).toBe(value);
      }
    }
    // Invalid UTF-8 alone: the same refusal as inside.
    expect(() => decodeValue(Buffer.concat([hex("a9"), Buffer.from("abcdefgh"), hex("ff")]))).toThrow(/not valid UTF-8/);
  });

  it("values within the standard types: the same bytes as a standard MessagePack writer, read by a standard reader", () => {
    // msgpackr writes integers beyond 32 bits as float64 and never -0: those are left out here.
    const leaf = fc.oneof(
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.double({ noDefaultInfinity: false }).filter((d) => !Number.isInteger(d) || Object.is(d, -0) === false && Math.abs(d) < 2 ** 31),
      fc.string({ unit: "grapheme", maxLength: 40 }),
    );
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("v"), { maxLength: 20 }), fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== "__proto__"), tie("v"), { maxKeys: 20, noNullPrototype: true })),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        const ours = encodeValue(v);
        expect(ours.toString("hex")).toBe(standard.pack(v).toString("hex"));
        expect(standard.unpack(ours)).toStrictEqual(v);
      }),
      { numRuns: 1_000 },
    );
  });

  it("reads any int form and str form, not only the smallest; ints beyond 2^53 as bigints", () => {
    expect(decodeValue(hex("d3 00 00 00 00 00 00 00 05"))).toBe(5);
    expect(decodeValue(hex("cf 00 00 00 00 00 00 00 05"))).toBe(5);
    expect(decodeValue(hex("cd 00 05"))).toBe(5);
    expect(decodeValue(hex("db 00 00 00 01 61"))).toBe("a");
    expect(decodeValue(hex("c6 00 00 00 01 09"))).toStrictEqual(new Uint8Array([9]));
    expect(decodeValue(hex("ca 3f c0 00 00"))).toBe(1.5);
    expect(decodeValue(hex("cf 00 20 00 00 00 00 00 00"))).toBe(2n ** 53n);
    expect(decodeValue(hex("cf ff ff ff ff ff ff ff ff"))).toBe(2n ** 64n - 1n);
    expect(decodeValue(hex("d3 80 00 00 00 00 00 00 00"))).toBe(-(2n ** 63n));
    expect(decodeValue(hex("d3 ff e0 00 00 00 00 00 00"))).toBe(-(2n ** 53n));
    expect(decodeValue(hex("c8 00 02 01 00 05"))).toBe(5n); // ext 16 and a bigint of 2 bytes
  });

  it("a view inside a bigger buffer encodes and decodes only its own bytes; nothing decoded aliases its input", () => {
    const big = bytesOf(64, 3);
    expect(decodeValue(encodeValue(big.subarray(5, 9)))).toStrictEqual(big.slice(5, 9));
    const ints = new Int32Array([1, 2, 3, 4]);
    expect(decodeValue(encodeValue(ints.subarray(1, 3)))).toStrictEqual(new Int32Array([2, 3]));
    const bytes = encodeValue({ u: bytesOf(100, 7), b: Buffer.from(bytesOf(10, 1)) });
    const framed = Buffer.alloc(bytes.length + 14, 0xee);
    framed.set(bytes, 7);
    const out = decodeValue(new Uint8Array(framed.buffer, framed.byteOffset + 7, bytes.length)) as { u: Uint8Array; b: Buffer };
    framed.fill(0);
    expect(out.u).toStrictEqual(bytesOf(100, 7));
    expect(out.u.byteOffset).toBe(0);
    expect(out.u.buffer.byteLength).toBe(100);
    expect(Buffer.isBuffer(out.b) && out.b.equals(Buffer.from(bytesOf(10, 1)))).toBe(true);
  });

  it("a value read twice is written twice; canonical: re-encoding what was read gives the same bytes", () => {
    const shared = { a: 1 };
    const bytes = encodeValue([shared, shared]);
    expect(bytes.toString("hex")).toBe("9281a1610181a16101");
    const back = decodeValue(bytes) as object[];
    expect(back[0]).not.toBe(back[1]);
    const leaf = fc.oneof(fc.constant(null), fc.constant(undefined), fc.boolean(), fc.double(), fc.integer(), fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }), fc.string({ unit: "binary", maxLength: 20 }), fc.date({ noInvalidDate: true }), fc.uint8Array({ maxLength: 10 }), fc.int16Array({ maxLength: 4 }));
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("v"), { maxLength: 5 }), fc.dictionary(fc.string({ maxLength: 5 }).filter((k) => k !== "__proto__"), tie("v"), { maxKeys: 5, noNullPrototype: true }), fc.array(fc.tuple(tie("v"), tie("v")), { maxLength: 4 }).map((e) => new Map(e)), fc.array(tie("v"), { maxLength: 4 }).map((e) => new Set(e))),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        const b = encodeValue([v]);
        expect(encodeValue(decodeValue(b)).equals(b)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it("a getter that stores another value while the value is written does not disturb it", () => {
    const value = {
      get inner() {
        return encodeValue({ other: "x".repeat(100) }).length;
      },
      after: "kept",
    };
    expect(decodeValue(encodeValue(value))).toStrictEqual({ inner: 109, after: "kept" });
  });

  it("a map key __proto__ from another language reads as an own key, never as the prototype", () => {
    const out = decodeValue(hex("81 a9 5f 5f 70 72 6f 74 6f 5f 5f 81 a1 78 01")) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toStrictEqual({ x: 1 });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe("value codec, format 3: refusals at write", () => {
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  const cases: Array<[string, unknown, RegExp]> = [
    ["a value that contains itself", cyclic, /nested more than 512 levels deep .*contains itself/],
    ["an invalid Date", new Date(NaN), /invalid Date/],
    ["a Map subclass", new (class M extends Map {})(), /instance of M/],
    ["an Array subclass", new (class A extends Array {})(), /instance of A/],
    ["a DataView", new DataView(new ArrayBuffer(2)), /instance of DataView/],
    ["an Error", new Error("x"), /instance of Error/],
    ["a lone surrogate in a long string", "x".repeat(40) + "\ud800", /lone surrogate/],
    ["a lone surrogate key", { ["k\udc00"]: 1 }, /an object key with a lone surrogate/],
    ["a low surrogate first", "\udc00\ud800", /lone surrogate/],
  ];
  for (const [label, value, message] of cases) {
    it(`${label} is InvalidError`, () => {
      expect(() => encodeValue(value)).toThrow(InvalidError);
      expect(() => encodeValue(value)).toThrow(message);
    });
  }

  it("a getter that throws is InvalidError, and the next value is written whole", () => {
    const bad = {
      get x(): never {
        throw new TypeError("boom");
      },
    };
    expect(() => encodeValue({ a: "before", bad })).toThrow(InvalidError);
    expect(encodeValue({ a: 1 }).toString("hex")).toBe("81a16101");
  });
});

describe("value codec, format 3: garbage is DeserializationError", () => {
  const nested = (n: number): Buffer => Buffer.concat([Buffer.alloc(n, 0x91), hex("c0")]);
  const nestedSets = (n: number): Buffer => {
    let inner = hex("c0");
    for (let i = 0; i < n; i++) {
      const payload = Buffer.concat([hex("91"), inner]);
      inner = Buffer.concat([payload.length < 256 ? Buffer.from([0xc7, payload.length, 3]) : Buffer.from([0xc8, payload.length >> 8, payload.length & 0xff, 3]), payload]);
    }
    return inner;
  };
  const cases: Array<[string, string | Buffer, RegExp]> = [
    ["no bytes", "", /no bytes/],
    ["0xc1", "c1", /0xc1/],
    ["a truncated str", "a5 61 62", /truncated/],
    ["a truncated float", "cb 00 00", /truncated/],
    ["bytes after the value", "01 02", /1 bytes after the value/],
    ["invalid UTF-8", "a2 c3 28", /not valid UTF-8/],
    ["invalid UTF-8 in a long str", Buffer.concat([hex("d9 20"), Buffer.alloc(31, 0x61), hex("ff")]), /not valid UTF-8/],
    ["a lone surrogate's UTF-8", "a3 ed a0 80", /not valid UTF-8/],
    ["a map with an int key", "81 01 02", /map key that is not a str/],
    ["a map key twice", "82 a1 61 01 a1 61 02", /map key "a" twice/],
    ["a Map key twice", "c7 05 02 82 01 01 01 02", /Map key twice/],
    ["a Set element twice", "c7 03 03 92 01 01", /Set element twice/],
    ["an unknown extension type", "d4 07 00", /unknown extension type 7/],
    ["an unknown negative extension type", "d4 fe 00", /unknown extension type -2/],
    ["a bigint without bytes", "c7 00 01", /bigint .* without bytes/],
    ["undefined with a payload", "d4 00 00", /undefined .* with a payload/],
    ["a timestamp of 5 bytes", "c7 05 ff 00 00 00 00 00", /timestamp of 5 bytes/],
    ["a timestamp with 10^9 nanoseconds", "c7 0c ff 3b 9a ca 00 00 00 00 00 00 00 00 00", /nanoseconds/],
    ["a timestamp beyond a Date", "c7 0c ff 00 00 00 00 7f ff ff ff ff ff ff ff", /out of a Date's range/],
    ["a view of unknown kind", "d5 04 0d 00", /unknown kind 13/],
    ["a view without its kind", "c7 00 04", /without its kind/],
    ["a view of half an element", "d6 04 03 01 00 02", /not whole elements/],
    ["a Map whose payload is an array", "d5 02 91 01", /not a map/],
    ["a Map whose payload has bytes after it", "d6 02 80 01 02 03", /bytes after its value/],
    ["a Map whose payload runs past it", "d5 02 81 01", /truncated/],
    ["a Set whose payload is a map", "d4 03 80", /not an array/],
    ["a RegExp that does not compile", "c7 04 05 92 a1 28 a0", /does not compile/],
    ["a RegExp of one str", "d5 05 91 a0", /not \[source, flags\]/],
    ["a RegExp of numbers", "c7 03 05 92 01 02", /source or flags is not a str/],
    ["undefined as the whole value", "c7 00 00", /undefined as the whole value/],
    ["an array claiming 2^32 - 1 elements", "dd ff ff ff ff 01", /array of 4294967295 elements/],
    ["a map claiming 2^32 - 1 entries", "df ff ff ff ff a1 61 01", /map of 4294967295 entries/],
    ["a bin claiming 2^32 - 1 bytes", "c6 ff ff ff ff 00", /truncated/],
    ["an ext claiming 2^32 - 1 bytes", "c9 ff ff ff ff 02 80", /truncated/],
    [`arrays nested ${VALUE_NESTING_MAX + 1} deep`, nested(VALUE_NESTING_MAX + 1), /nested more than 512/],
    ["Sets nested 600 deep", nestedSets(600), /nested more than 512/],
  ];
  for (const [label, bytes, message] of cases) {
    it(`${label}`, () => {
      const input = typeof bytes === "string" ? hex(bytes) : bytes;
      expect(() => decodeValue(input)).toThrow(DeserializationError);
      expect(() => decodeValue(input)).toThrow(message);
    });
  }

  it(`arrays nested ${VALUE_NESTING_MAX} deep read back`, () => {
    let v: unknown = null;
    for (let i = 0; i < VALUE_NESTING_MAX; i++) v = [v];
    expect(decodeValue(nested(VALUE_NESTING_MAX))).toStrictEqual(v);
  });

  it("random bytes and damaged encodings: a value or DeserializationError, nothing else", () => {
    const samples = GOLDEN.map(([, v]) => encodeValue(v)).concat([encodeValue({ list: [new Map([[1, new Set(["a", 2n])]]), new Date(5), /x/y], big: 2n ** 80n })]);
    const damaged = fc.tuple(fc.constantFrom(...samples), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 })).map(([b, at, byte, how]) => {
      const c = Buffer.from(b);
      const i = at % c.length;
      if (how === 0) c[i] = byte;
      if (how === 1) return c.subarray(0, i);
      if (how === 2) return Buffer.concat([c.subarray(0, i), Buffer.from([byte]), c.subarray(i)]);
      return c;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), damaged), (bytes) => {
        try {
          decodeValue(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(DeserializationError);
        }
      }),
      { numRuns: 20_000 },
    );
  });
});
