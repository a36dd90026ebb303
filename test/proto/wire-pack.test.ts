// The envelope writer (proto/wire.ts) must pack every envelope into MessagePack that
// unpacks to the same value as msgpackr's own output, and hand what it does not handle to
// msgpackr. Both outputs go through the server's unpacker and are compared.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { unpackBatchReplyChunks } from "../../proto/chunked.ts";
import { packBatchReply, packEnvelope, packEnvelopeGeneral, unpackEnvelope } from "../../proto/wire.ts";

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

// A batch answer over BATCH_REPLY_WHOLE_BYTES_MAX leaves the server as a header and one
// buffer per reply, and the client reads it from the received chunks one reply at a time
// (proto/chunked.ts), because it may be bigger than one Buffer can hold.
describe("batch answers in pieces", () => {
  const reply = fc.tuple(fc.constantFrom(200, 400, 404, 413), envelope);
  const replies = fc.array(reply, { maxLength: 20 });

  /** `bytes` cut at the given points (taken modulo its length), as undici hands a body over. */
  function cut(bytes: Buffer, points: number[]): Buffer[] {
    const at = [...new Set(points.map((p) => (bytes.length === 0 ? 0 : p % bytes.length)))].sort((a, b) => a - b);
    const out: Buffer[] = [];
    let from = 0;
    for (const p of at) {
      out.push(bytes.subarray(from, p));
      from = p;
    }
    out.push(bytes.subarray(from));
    return out;
  }

  it("property: one buffer or a header and a buffer per reply, the answer is the same", () => {
    fc.assert(
      fc.property(replies, (list) => {
        const whole = packBatchReply(list);
        expect(whole).toHaveLength(1);
        const pieces = packBatchReply(list, 0);
        expect(pieces).toHaveLength(list.length + 1);
        const expected = unpackEnvelope(packEnvelopeGeneral({ replies: list }));
        expect(unpackEnvelope(whole[0]!)).toEqual(expected);
        expect(unpackEnvelope(Buffer.concat(pieces))).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it("property: read from any cutting into chunks, a batch answer unpacks as it does whole", () => {
    fc.assert(
      fc.property(replies, fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (list, points, inPieces) => {
        const bytes = Buffer.concat(packBatchReply(list, inPieces ? 0 : Infinity));
        expect(unpackBatchReplyChunks(cut(bytes, points))).toEqual(unpackEnvelope(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it("other fields of the answer are skipped, whatever their type", () => {
    const other = { a: [1, -1, 300, -300, 70_000, -70_000, 2 ** 40, 0.5, "s".repeat(40), "t".repeat(300)], b: { c: null, d: true, e: false }, f: Buffer.alloc(70_000, 3), g: 2n ** 63n, h: new Date(5) };
    const bytes = packEnvelopeGeneral({ before: other, replies: [[200, { n: 1 }]], after: other });
    expect(unpackBatchReplyChunks(cut(bytes, [1, 7, 100, 5000, 70_010]))).toEqual({ replies: [[200, { n: 1 }]] });
  });

  it("refuses a truncated answer at every length, bytes after it, and answers of the wrong shape", () => {
    const bytes = Buffer.concat(packBatchReply([[200, { values: [Buffer.alloc(300, 1), Buffer.alloc(2, 2)] }], [404, { code: "NOT_FOUND", message: "m" }]], 0));
    for (let n = 0; n < bytes.length; n++) {
      expect(() => unpackBatchReplyChunks(cut(bytes.subarray(0, n), [n >> 1]))).toThrow();
    }
    expect(() => unpackBatchReplyChunks([bytes, Buffer.from([0xc0])])).toThrow(/bytes after/);
    for (const wrong of [[1, 2], "replies", { replies: "x" }, { other: [] }]) {
      expect(() => unpackBatchReplyChunks([packEnvelopeGeneral(wrong as Record<string, unknown>)])).toThrow();
    }
    // An array that claims 2^32 - 1 replies in a few bytes is refused at once.
    expect(() => unpackBatchReplyChunks([Buffer.from([0x81, 0xa7, ...Buffer.from("replies"), 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0])])).toThrow(/ends early/);
    expect(() => unpackBatchReplyChunks([Buffer.from([0x81, 0xa7, ...Buffer.from("replies"), 0x91, 0xc1])])).toThrow(/type byte/);
  });
});
