// The key codec's canonical check (proto/keys.ts isCanonicalKey) walks the bytes in place.
// It must agree exactly with the definition it replaces: bytes are canonical when decoding
// them and encoding the result gives the same bytes back. Checked here against that
// definition on valid encodings, on mutations of them, and on random bytes.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KEY_DEPTH_MAX, decodeKey, encodeKey, isCanonicalKey, type DictKey } from "../../proto/keys.ts";

function byDefinition(bytes: Uint8Array): boolean {
  try {
    return Buffer.compare(encodeKey(decodeKey(bytes)), Buffer.from(bytes)) === 0;
  } catch {
    return false;
  }
}

const atom: fc.Arbitrary<DictKey> = fc.oneof(
  fc.boolean(),
  fc.double(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MIN_VALUE, -Number.MAX_VALUE),
  fc.bigInt({ min: -(1n << 300n), max: 1n << 300n }),
  fc.string({ unit: "binary" }),
  fc.string({ unit: fc.constantFrom("a", "\u0000", "\u00ff", "\u{1F600}", "é") }),
  fc.uint8Array({ maxLength: 12 }),
  fc.constantFrom(new Uint8Array([0, 0, 255]), new Uint8Array([255])),
);
const key: fc.Arbitrary<DictKey> = fc.letrec<{ key: DictKey }>((tie) => ({
  key: fc.oneof({ depthSize: "small", withCrossShrink: true }, atom, fc.array(tie("key"), { maxLength: 4 })),
})).key;

const validEncoding = key
  .filter((k) => {
    try {
      encodeKey(k);
      return true;
    } catch {
      return false; // nested too deep, or a string with a lone surrogate
    }
  })
  .map((k) => encodeKey(k));

describe("isCanonicalKey", () => {
  it("accepts every encoding encodeKey writes", () => {
    fc.assert(fc.property(validEncoding, (bytes) => {
      expect(isCanonicalKey(bytes)).toBe(true);
    }), { numRuns: 2000 });
  });

  it("agrees with decode-then-encode on mutated encodings", () => {
    const mutated = fc
      .tuple(validEncoding, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "insert", "delete", "truncate", "append"))
      .map(([bytes, at, value, how]) => {
        const b = [...bytes];
        const i = b.length === 0 ? 0 : at % b.length;
        if (how === "set") b[i] = value;
        else if (how === "insert") b.splice(i, 0, value);
        else if (how === "delete") b.splice(i, 1);
        else if (how === "truncate") b.length = i;
        else b.push(value);
        return Uint8Array.from(b);
      });
    fc.assert(fc.property(mutated, (bytes) => {
      expect(isCanonicalKey(bytes)).toBe(byDefinition(bytes));
    }), { numRuns: 20000 });
  });

  it("agrees with decode-then-encode on random bytes", () => {
    const tagged = fc
      .tuple(fc.constantFrom(0x10, 0x11, 0x20, 0x28, 0x29, 0x30, 0x38, 0x40), fc.uint8Array({ maxLength: 24 }))
      .map(([tag, rest]) => Uint8Array.from([tag, ...rest]));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 24 }), tagged), (bytes) => {
      expect(isCanonicalKey(bytes)).toBe(byDefinition(bytes));
    }), {
      numRuns: 20000,
    });
  });

  it("a string key has the same bytes on the fast path as inside an array (the general path)", () => {
    const text = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: fc.constantFrom("a", "\u0000", "é", "\u{1F600}") }));
    fc.assert(
      fc.property(text, (s) => {
        let inArray: Buffer | undefined;
        try {
          inArray = encodeKey([s]);
        } catch {
          expect(() => encodeKey(s)).toThrow();
          return;
        }
        expect(Buffer.compare(encodeKey(s), inArray.subarray(1, inArray.length - 1))).toBe(0);
      }),
      { numRuns: 5000 },
    );
  });

  it("refuses the non-canonical forms one by one", () => {
    const number = (...b: number[]) => Uint8Array.from([0x20, ...b]);
    const cases: Array<[string, Uint8Array]> = [
      ["-0 (stored 0 is the only zero)", number(0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
      ["a NaN other than the canonical one", number(0xff, 0xf8, 0, 0, 0, 0, 0, 1)],
      ["a negative NaN", number(0x00, 0x07, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
      ["a truncated number", number(0x80, 0, 0)],
      ["a bigint with a leading zero byte", Uint8Array.from([0x29, 2, 0, 1])],
      ["a negative bigint with a leading zero byte", Uint8Array.from([0x28, 0xfd, 0xff, 0xfe])],
      ["a negative zero-length bigint", Uint8Array.from([0x28, 0xff])],
      ["an overlong UTF-8 string", Uint8Array.from([0x30, 0xc0, 0xaf, 0x00])],
      ["a UTF-8 surrogate", Uint8Array.from([0x30, 0xed, 0xa0, 0x80, 0x00])],
      ["an unterminated string", Uint8Array.from([0x30, 0x61])],
      ["trailing bytes", Uint8Array.from([0x10, 0x10])],
      ["an unknown tag", Uint8Array.from([0x50])],
      ["an unterminated array", Uint8Array.from([0x40, 0x10])],
      ["arrays nested too deep", Uint8Array.from([...Array(KEY_DEPTH_MAX + 1).fill(0x40), ...Array(KEY_DEPTH_MAX + 1).fill(0)])],
      ["nothing", new Uint8Array(0)],
    ];
    for (const [why, bytes] of cases) {
      expect({ why, canonical: isCanonicalKey(bytes) }).toEqual({ why, canonical: false });
      expect({ why, canonical: byDefinition(bytes) }).toEqual({ why, canonical: false });
    }
    const deepest = Uint8Array.from([...Array(KEY_DEPTH_MAX).fill(0x40), ...Array(KEY_DEPTH_MAX).fill(0)]);
    expect(isCanonicalKey(deepest)).toBe(true);
    expect(isCanonicalKey(encodeKey(-0))).toBe(true);
    expect(isCanonicalKey(encodeKey(["a\u0000b", new Uint8Array([0, 255, 0])]))).toBe(true);
  });
});
