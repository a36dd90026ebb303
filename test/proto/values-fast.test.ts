// The value codec's fast paths (strings, Buffers, Uint8Arrays) must write exactly the bytes
// msgpackr's general path writes, and read back what it reads: same bytes on disk whichever
// path wrote them, same class and contents whichever path reads them.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeserializationError, InvalidError } from "../../proto/errors.ts";
import { decodeGeneral, decodeValue, encodeGeneral, encodeValue } from "../../proto/values.ts";

/** Lengths at every header boundary: fixstr 31/32, 8-bit 255/256, 16-bit 65535/65536. */
const BOUNDARIES = [0, 1, 30, 31, 32, 33, 253, 254, 255, 256, 257, 65_533, 65_534, 65_535, 65_536, 65_537, 70_000];

function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function samples(): unknown[] {
  const out: unknown[] = [];
  for (const n of BOUNDARIES) {
    out.push(bytesOf(n, n), Buffer.from(bytesOf(n, n + 1)), "a".repeat(n), "é".repeat(n >> 1), "😀".repeat(n >> 2));
  }
  return out;
}

/**
 * The general path gives bin back in the class of its input (a Uint8Array for plain
 * Uint8Array input); the fast path always gives the Buffer that was stored, so the two are
 * compared on Buffer input.
 */
function sameDecoded(bytes: Uint8Array): void {
  const fast = decodeValue(bytes);
  const general = decodeGeneral(Buffer.from(bytes));
  expect(fast).toEqual(general);
  expect(Object.getPrototypeOf(fast)).toBe(Object.getPrototypeOf(general));
}

describe("value codec fast paths", () => {
  it("write the same bytes as the general path, at every header boundary", () => {
    for (const value of samples()) expect(encodeValue(value).equals(encodeGeneral(value)), String((value as { length: number }).length)).toBe(true);
  });

  it("read the same values as the general path: contents and class (Buffer stays Buffer, Uint8Array stays Uint8Array)", () => {
    for (const value of samples()) {
      const bytes = encodeGeneral(value);
      sameDecoded(bytes);
      sameDecoded(new Uint8Array(bytes)); // not a Buffer, as bytes may arrive
      expect(decodeValue(bytes)).toEqual(value);
    }
  });

  it("property: random strings, Buffers and Uint8Arrays", () => {
    const value = fc.oneof(
      fc.string({ unit: "binary", maxLength: 300 }),
      fc.string({ unit: "grapheme", maxLength: 100 }),
      fc.uint8Array({ maxLength: 600 }),
      fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
    );
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encodeValue(v);
        expect(bytes.equals(encodeGeneral(v))).toBe(true);
        sameDecoded(bytes);
        expect(decodeValue(bytes)).toEqual(v);
      }),
      { numRuns: 3000 },
    );
  });

  it("read a value from a view inside a bigger buffer (as runs and answers hand them over): only its own bytes", () => {
    for (const value of samples()) {
      const bytes = encodeGeneral(value);
      const framed = Buffer.alloc(bytes.length + 14, 0xee);
      framed.set(bytes, 7);
      const view = framed.subarray(7, 7 + bytes.length);
      expect(view.byteOffset).not.toBe(0);
      expect(decodeValue(view)).toEqual(value);
      expect(decodeValue(new Uint8Array(framed.buffer, framed.byteOffset + 7, bytes.length))).toEqual(value);
    }
  });

  it("a decoded Uint8Array owns an ArrayBuffer of exactly its size, and nothing decoded aliases the input", () => {
    const bytes = encodeValue(bytesOf(100, 7));
    const u8 = decodeValue(bytes) as Uint8Array;
    expect(u8.byteOffset).toBe(0);
    expect(u8.buffer.byteLength).toBe(100);
    const bin = encodeValue(Buffer.from(bytesOf(100, 9)));
    const buf = decodeValue(bin) as Buffer;
    bytes.fill(0);
    bin.fill(0);
    expect(u8).toEqual(bytesOf(100, 7));
    expect(Buffer.from(buf)).toEqual(Buffer.from(bytesOf(100, 9)));
  });

  it("bytes that are a bin, extension or str header with too many or too few bytes are DeserializationError", () => {
    for (const value of ["abc", "x".repeat(40), bytesOf(10, 1), Buffer.from(bytesOf(300, 2))]) {
      const bytes = encodeValue(value);
      expect(() => decodeValue(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(DeserializationError);
      expect(() => decodeValue(bytes.subarray(0, bytes.length - 1))).toThrow(DeserializationError);
    }
    expect(() => decodeValue(Buffer.from([0xc6, 0xff]))).toThrow(DeserializationError);
    expect(() => decodeValue(new Uint8Array(0))).toThrow(DeserializationError);
  });

  it("other typed arrays and extensions still take the general path", () => {
    for (const value of [new Int16Array([1, -2]), new Float64Array([0.5]), new Uint8ClampedArray([3]), new Date(5), new Set(["s"])]) {
      const bytes = encodeValue(value);
      expect(bytes.equals(encodeGeneral(value))).toBe(true);
      expect(decodeValue(bytes)).toEqual(value);
    }
  });

  it("a string with a lone surrogate is InvalidError on the fast path too", () => {
    expect(() => encodeValue("a\ud800")).toThrow(InvalidError);
  });
});
