// The envelope writer (proto/wire.ts) must pack every envelope into MessagePack that
// unpacks to the same value as msgpackr's own output, and hand what it does not handle to
// msgpackr. Both outputs go through the server's unpacker and are compared.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { packEnvelope, packEnvelopeGeneral, unpackEnvelope } from "../proto/wire.ts";

const number = fc.oneof(
  fc.integer(),
  fc.integer({ min: -40, max: 300 }),
  fc.double(),
  fc.constantFrom(0, -0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, NaN, Infinity, -Infinity, 0.5),
);
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 20 }), fc.constantFrom("", "x".repeat(31), "x".repeat(32), "é".repeat(128)));
// Large sizes are in the boundary test: deep-comparing them on every run would be slow.
const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(new Uint8Array(255), new Uint8Array(256)), fc.uint8Array({ maxLength: 10 }).map((u) => Buffer.from(u)));
const leaf = fc.oneof(number, text, bytes, fc.boolean(), fc.constant(null));
// Also what the writer leaves to msgpackr: bigints, Dates, undefined in a list.
const other = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.date({ noInvalidDate: true }), fc.constant(undefined));

const field = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("value"), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie("value"), { maxKeys: 4 }),
  ),
}));

const envelope = fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(field.value, fc.constant(undefined)), { maxKeys: 8 });

function same(env: Record<string, unknown>): void {
  expect(unpackEnvelope(packEnvelope(env))).toEqual(unpackEnvelope(packEnvelopeGeneral(env)));
}

describe("envelope writer", () => {
  it("property: unpacks to what msgpackr's output unpacks to", () => {
    fc.assert(
      fc.property(envelope, (env) => {
        same(env);
      }),
      { numRuns: 3000 },
    );
  });

  it("property: with bigints, Dates and undefined list items mixed in (msgpackr packs those envelopes)", () => {
    fc.assert(
      fc.property(envelope, other, fc.array(other, { maxLength: 3 }), (env, value, list) => {
        same({ ...env, odd: value, list: [1, ...list] });
      }),
      { numRuns: 1000 },
    );
  });

  it("every size boundary of ints, strings, bytes, lists and maps", () => {
    const wide = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`f${i}`, i]));
    const wider = Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]));
    for (const env of [
      { list: Array.from({ length: 15 }, (_, i) => i), l16: Array.from({ length: 16 }, (_, i) => i), l70k: new Array(70_000).fill(1) },
      wide,
      wider,
      { a: "x".repeat(0xff), b: "x".repeat(0x100), c: "x".repeat(0xffff), d: "x".repeat(0x10000) },
      { a: new Uint8Array(0xffff).fill(1), b: new Uint8Array(0x10000).fill(2) },
      { values: Array.from({ length: 100 }, (_, i) => Buffer.alloc(100, i)), id: "qu-abc", n: 100, timeoutMs: 0, partition: "p" },
      {},
      { gone: undefined },
    ]) {
      same(env);
    }
  });

  it("typical envelopes come out byte for byte as msgpackr writes them", () => {
    const env = { id: "qu-Abc123", values: [Buffer.alloc(100, 1), new Uint8Array(3)], partition: "p1", partitionTtlMs: 60_000, timeoutMs: 0, skip: undefined };
    expect(packEnvelope(env).equals(packEnvelopeGeneral(env))).toBe(true);
  });
});
