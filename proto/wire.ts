// The HTTP protocol shared by the server (server/) and the remote client (client/remote.ts):
// its prefix, content types and protocol-wide bounds, the MessagePack envelope codec, and the
// wire form of an ObjectRecord. The routes and what each call carries are the table of
// calls, proto/calls.ts. docs/protocol.md is the written form of both; change them together.
//
// Envelopes are plain MessagePack maps with string keys. Values and dict keys travel as
// `bin` fields holding the bytes that proto/values.ts and proto/keys.ts produced, so the
// server never decodes them. Absent optional fields are left out of the map (a `nil`
// is read as absent too); msgpackr-only extensions are never written, so a client in any
// language with a MessagePack library can speak this protocol.

import { Packr, Unpackr } from "msgpackr";
import { BIN8, packedStringBytes, sizedHeaderBytes, writeSizedHeader, writeString } from "./msgpack.ts";
import type { ObjectKind, ObjectRecord } from "./backend.ts";

/** Protocol version, the first path segment of every route. */
export const PROTOCOL_PREFIX = "/v1";

/** The content type of request and success bodies. */
export const MSGPACK_TYPE = "application/msgpack";
/** Other names for MessagePack that the server accepts in requests. */
export const MSGPACK_TYPE_ALIASES: readonly string[] = [MSGPACK_TYPE, "application/x-msgpack", "application/vnd.msgpack"];
/** Error bodies are JSON `{ code, message }`, readable without a MessagePack library. */
export const JSON_TYPE = "application/json";

/** The one unauthenticated route: `GET /v1/health`. */
export const HEALTH_PATH = `${PROTOCOL_PREFIX}/health`;

/**
 * A batch carries calls to other routes in one request (docs/protocol.md, "Batches"). The
 * Node.js client sends one when more calls are ready than it has requests in flight:
 * calls that would otherwise wait in the client for a connection go together instead.
 * The server refuses a batch of more calls or bytes than this.
 */
export const BATCH_CALLS_MAX = 1024;
export const BATCH_BYTES_MAX = 16 * 1024 * 1024;

/** Longest `waitId` (docs/protocol.md, "Cancelling a wait"), and most ids in one `waits/cancel`. */
export const WAIT_ID_LENGTH_MAX = 64;
export const WAIT_IDS_MAX = 1024;

/** One call inside a batch: its route's path and its envelope, already packed. */
export interface BatchCall {
  readonly path: string;
  readonly body: Buffer;
}

/** A batch's body, `{ calls: [[path, envelope], ...] }`, written around the packed envelopes without unpacking them. */
export function packBatch(calls: readonly BatchCall[]): Buffer {
  let size = 1 + packedStringBytes(5) + containerHeader(calls.length);
  for (const call of calls) size += 1 + packedStringBytes(Buffer.byteLength(call.path, "utf8")) + call.body.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = 0x81;
  let pos = writeString(out, 1, "calls", 5);
  pos = writeContainerHeader(out, pos, calls.length, 0x90, 0xdc);
  for (const call of calls) {
    out[pos++] = 0x92;
    pos = writeString(out, pos, call.path, Buffer.byteLength(call.path, "utf8"));
    pos += call.body.copy(out, pos);
  }
  return out;
}

// skipValues leaves out fields whose value is undefined while packing, without a copy.
// (msgpackr 2.1's type declarations do not list the option yet.)
const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true, skipValues: [undefined] } as ConstructorParameters<typeof Packr>[0]);
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Packs an envelope; fields whose value is undefined are left out. */
export function packEnvelope(envelope: Record<string, unknown>): Buffer {
  const size = packedSize(envelope, 0);
  if (size < 0) return packr.pack(envelope);
  const out = Buffer.allocUnsafe(size);
  writePacked(envelope, out, 0);
  return out;
}

/**
 * A batch answer at most this big is written as one buffer. A bigger one (64 concurrent
 * gets of a 70 MiB value come to 4.4 GB, past the largest Buffer Node can make) is written
 * one reply at a time, and the client reads it one reply at a time (proto/chunked.ts):
 * neither side ever holds it in one piece.
 */
export const BATCH_REPLY_WHOLE_BYTES_MAX = 16 * 1024 * 1024;

/**
 * A batch's answer, `{ replies: [[status, answer], ...] }`, as the buffers to send in order:
 * one buffer up to `wholeBytesMax`, else a header and then one buffer per reply.
 */
export function packBatchReply(replies: readonly unknown[], wholeBytesMax = BATCH_REPLY_WHOLE_BYTES_MAX): Buffer[] {
  const headerBytes = 1 + packedStringBytes(7) + containerHeader(replies.length);
  // Each reply sits at depth 2 of the whole answer (the map, `replies`, the reply); one the
  // writer leaves to msgpackr is packed by msgpackr now.
  const sizes = replies.map((reply) => packedSize(reply, 2));
  const byMsgpackr = replies.map((reply, i) => (sizes[i]! < 0 ? packr.pack(reply) : undefined));
  let total = headerBytes;
  for (let i = 0; i < replies.length; i++) total += byMsgpackr[i]?.length ?? sizes[i]!;
  const pack = (i: number, out: Buffer, at: number): number => {
    const packed = byMsgpackr[i];
    return packed !== undefined ? at + packed.copy(out, at) : writePacked(replies[i], out, at);
  };
  if (total <= wholeBytesMax) {
    const out = Buffer.allocUnsafe(total);
    let pos = writeBatchReplyHeader(out, replies.length);
    for (let i = 0; i < replies.length; i++) pos = pack(i, out, pos);
    return [out];
  }
  const header = Buffer.allocUnsafe(headerBytes);
  writeBatchReplyHeader(header, replies.length);
  const pieces: Buffer[] = [header];
  for (let i = 0; i < replies.length; i++) {
    const piece = byMsgpackr[i] ?? Buffer.allocUnsafe(sizes[i]!);
    if (byMsgpackr[i] === undefined) pack(i, piece, 0);
    pieces.push(piece);
  }
  return pieces;
}

function writeBatchReplyHeader(out: Buffer, count: number): number {
  out[0] = 0x81;
  const pos = writeString(out, 1, "replies", 7);
  return writeContainerHeader(out, pos, count, 0x90, 0xdc);
}

/** packEnvelope through msgpackr alone (exported for the test that compares the two). */
export function packEnvelopeGeneral(envelope: Record<string, unknown>): Buffer {
  return packr.pack(envelope);
}

// ---- the envelope writer ----
//
// Envelopes are small maps of strings, numbers, booleans and byte strings, and lists of
// byte strings (the items of a putMany, the values of a getMany reply). msgpackr spends
// ~145 ns on each byte string (type dispatch, buffer growth), 14.6 us for a reply of 100;
// this writer measures the envelope, allocates once and copies, 4.3 us for the same reply.
// It writes standard MessagePack that unpacks to the same value as msgpackr's output
// (integers of 32 bits as ints, other numbers as float64, undefined fields left out), and
// hands anything else (bigints, Dates, undefined in a list, deep nesting) to msgpackr.

/** Deep enough for a batch answer: map, replies, [status, answer], answer map, values, item. */
const ENVELOPE_DEPTH_MAX = 6;

/** Header bytes of an array or map of `length` entries (fixarray and fixmap hold up to 15). */
function containerHeader(length: number): number {
  return length < 0x10 ? 1 : length < 0x10000 ? 3 : 5;
}

/** Bytes a number packs to (the smallest int form for 32-bit integers, else float64). */
export function numberSize(value: number): number {
  if (value >>> 0 === value) return value < 0x80 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : 5;
  if (value >> 0 === value) return value >= -0x20 ? 1 : value >= -0x80 ? 2 : value >= -0x8000 ? 3 : 5;
  return 9;
}

/** Bytes `value` packs to, or -1 when the writer leaves it to msgpackr. */
function packedSize(value: unknown, depth: number): number {
  switch (typeof value) {
    case "string":
      return packedStringBytes(Buffer.byteLength(value, "utf8"));
    case "number":
      return numberSize(value);
    case "boolean":
      return 1;
    case "object": {
      if (value === null) return 1;
      if (value instanceof Uint8Array) return sizedHeaderBytes(value.length) + value.length;
      if (depth >= ENVELOPE_DEPTH_MAX) return -1;
      if (Array.isArray(value)) {
        let size = containerHeader(value.length);
        for (let i = 0; i < value.length; i++) {
          const item = packedSize(value[i], depth + 1);
          if (item < 0) return -1;
          size += item;
        }
        return size;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return -1;
      let size = 0;
      let fields = 0;
      for (const key in value) {
        const field = (value as Record<string, unknown>)[key];
        if (field === undefined) continue;
        const item = packedSize(field, depth + 1);
        if (item < 0) return -1;
        size += packedSize(key, depth + 1) + item;
        fields++;
      }
      return size + containerHeader(fields);
    }
    default:
      return -1;
  }
}

/** Writes an array or map header: `fix | length` up to 15 entries, else `tag16` or `tag16 + 1` with the length. */
function writeContainerHeader(out: Buffer, at: number, length: number, fix: number, tag16: number): number {
  if (length < 0x10) {
    out[at] = fix | length;
    return at + 1;
  }
  if (length < 0x10000) {
    out[at] = tag16;
    out.writeUInt16BE(length, at + 1);
    return at + 3;
  }
  out[at] = tag16 + 1;
  out.writeUInt32BE(length, at + 1);
  return at + 5;
}

/** Writes what numberSize measured; returns the position after it. */
export function writeNumber(out: Buffer, at: number, value: number): number {
  if (value >>> 0 === value) {
    if (value < 0x80) {
      out[at] = value;
      return at + 1;
    }
    if (value < 0x100) {
      out[at] = 0xcc;
      out[at + 1] = value;
      return at + 2;
    }
    if (value < 0x10000) {
      out[at] = 0xcd;
      out.writeUInt16BE(value, at + 1);
      return at + 3;
    }
    out[at] = 0xce;
    out.writeUInt32BE(value, at + 1);
    return at + 5;
  }
  if (value >> 0 === value) {
    if (value >= -0x20) {
      out[at] = value & 0xff;
      return at + 1;
    }
    if (value >= -0x80) {
      out[at] = 0xd0;
      out.writeInt8(value, at + 1);
      return at + 2;
    }
    if (value >= -0x8000) {
      out[at] = 0xd1;
      out.writeInt16BE(value, at + 1);
      return at + 3;
    }
    out[at] = 0xd2;
    out.writeInt32BE(value, at + 1);
    return at + 5;
  }
  out[at] = 0xcb;
  out.writeDoubleBE(value, at + 1);
  return at + 9;
}

/** Writes what packedSize measured; returns the position after it. */
function writePacked(value: unknown, out: Buffer, at: number): number {
  switch (typeof value) {
    case "string":
      return writeString(out, at, value, Buffer.byteLength(value, "utf8"));
    case "number":
      return writeNumber(out, at, value);
    case "boolean":
      out[at] = value ? 0xc3 : 0xc2;
      return at + 1;
    default: {
      if (value === null) {
        out[at] = 0xc0;
        return at + 1;
      }
      if (value instanceof Uint8Array) {
        const start = writeSizedHeader(out, at, value.length, BIN8);
        out.set(value, start);
        return start + value.length;
      }
      if (Array.isArray(value)) {
        let pos = writeContainerHeader(out, at, value.length, 0x90, 0xdc);
        for (let i = 0; i < value.length; i++) pos = writePacked(value[i], out, pos);
        return pos;
      }
      const record = value as Record<string, unknown>;
      let fields = 0;
      for (const key in record) if (record[key] !== undefined) fields++;
      let pos = writeContainerHeader(out, at, fields, 0x80, 0xde);
      for (const key in record) {
        const field = record[key];
        if (field === undefined) continue;
        pos = writeString(out, pos, key, Buffer.byteLength(key, "utf8"));
        pos = writePacked(field, out, pos);
      }
      return pos;
    }
  }
}

/** Whether an unpacked value is a map (an envelope or an answer): an object that is not an array or bytes. */
export function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** Unpacks one MessagePack value that must fill the whole buffer; throws on malformed input. */
export function unpackEnvelope(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/** The wire form of an ObjectRecord (a `nil` or missing name means ephemeral-anonymous). */
export interface WireObject {
  id: string;
  kind: ObjectKind;
  name?: string;
  environment: string;
  createdAt: number;
  ephemeral: boolean;
  entryTtlMs?: number;
}

export function objectToWire(record: ObjectRecord): WireObject {
  return {
    id: record.id,
    kind: record.kind,
    ...(record.name === undefined ? {} : { name: record.name }),
    environment: record.environment,
    createdAt: record.createdAt,
    ephemeral: record.ephemeral,
    ...(record.entryTtlMs === undefined ? {} : { entryTtlMs: record.entryTtlMs }),
  };
}
