// The persisted key layout: every LevelDB key and value the engine writes is built here.
// docs/format.md explains the same layout with commit, recovery and expiry.
//
// Grammar (tag bytes and value formats are persisted: DO NOT CHANGE; bump FORMAT_VERSION
// and write a migration instead):
//
//   key            = meta | name | object | dict-stats | dict-entry | partition | item | hold | moved | ttl | garbage | request | request-age
//   meta           = 0x00 "v"                     -> u32 FORMAT_VERSION
//                  | 0x00 "n"                     -> u64 next internal number
//                  | 0x00 "u"                     -> the last key rewritten, while an upgrade from format 2 runs
//   name           = 0x01 kind env 0x00 name      -> u64 object number
//   object         = 0x02 u64:num                 -> MessagePack ObjectRow
//   dict-stats     = 0x03 u64:dataNum             -> u64 entries, u64 bytes
//   dict-entry     = 0x10 u64:dataNum dict-key    -> 0x00 payload | 0x01 f64:expiresAt payload
//   partition      = 0x20 u64:queueNum part-key   -> u64 partNum, u64 head, u64 tail, f64 expiresAt, f64 indexedAt, u64 headRun [u64 held, u64 reserved]
//   item           = 0x21 u64:partNum u64:seq     -> run: the items seq, seq+1, ... put by one call
//   run            = u32:count (u32:length payload){count}
//   hold           = 0x22 u64:partNum u64:groupNum -> u8:state f64:deadline u32:maxDeliveries u16:dlqLength dlq-key u32:count hold-range{count}
//   hold-range     = u64:seq u32:count u64:run u32:deliveries u64:owner   (items seq..seq+count-1 of the run at `run`)
//   moved          = 0x23 u64:partNum u64:seq     -> u32:deliveries u32:count (u64:partNum u64:seq){count}  (a dead-lettered item: its deliveries and where it was before)
//   ttl            = 0x30 u64:at 0x10 u64:dataNum dict-key   -> 0x00    (a dict entry due at `at`)
//                  | 0x30 u64:at 0x21 u64:partNum            -> 0x00    (a partition due at `at`)
//   garbage        = 0x40 u64:num                 -> (0x10 (a dict's old data) | 0x21 (a partition's items)) [u64:notBefore]
//   request        = 0x50 request-id              -> u64:recordedAt outcome   (a call applied once, engine/requests.ts)
//   request-age    = 0x51 u64:recordedAt (request-id | swept-run) -> 0x00     (the same, by age, for pruning)
//
//   kind     = "d" | "q"
//   env      = UTF-8 environment name (never contains 0x00)
//   dict-key = the key codec's bytes (proto/keys.ts)
//   part-key = UTF-8 partition key, empty for the default partition
//   payload  = an encoded value (proto/values.ts), as the client sent it
//   u64      = 8 bytes big-endian, so that byte order is numeric order
//   f64      = IEEE 754 big-endian; Infinity means never, -1 means no ttl entry
//   state    = 0 lease (reserved) | 1 delay (released with a delay) | 2 visible (back in the queue, below head)
//   dlq-key  = the dead-letter partition's UTF-8 key; dlqLength 0xffff means none (and 0 the default partition)
//   request-id = the client's id of a call, ASCII [A-Za-z0-9_-]{1,64}
//   outcome  = MessagePack map { o: what the call returned } (o absent for nothing)
//
// Internal numbers (object, dict data, partition) come from one counter and are never
// reused, so a range of dead data can be deleted at leisure without racing new writes.
// Items are keyed by partition number and sequence, so key order is FIFO order. The items of
// one put or putMany are one record (a run) under the sequence of its first item: a batch
// of 100 items is one LevelDB write, not 100. A partition's runs cover [headRun, tail)
// without gaps; `head` may sit inside the head run, whose taken items stay in the record
// until the whole run is taken.

import { Packr } from "msgpackr";
import type { ObjectKind } from "../proto/validate.ts";
import { CorruptionError, atKey } from "./corruption.ts";

/**
 * 3: values in the standard MessagePack grammar of proto/values.ts (2: msgpackr records,
 * upgraded at open by engine/upgrade.ts; 1: one record per queue item, not read).
 */
export const FORMAT_VERSION = 4;

export const TAG_META = 0x00;
export const TAG_NAME = 0x01;
export const TAG_OBJECT = 0x02;
export const TAG_DICT_STATS = 0x03;
export const TAG_DICT_ENTRY = 0x10;
export const TAG_PARTITION = 0x20;
export const TAG_ITEM = 0x21;
export const TAG_HOLD = 0x22;
export const TAG_MOVED = 0x23;
export const TAG_TTL = 0x30;
export const TAG_GARBAGE = 0x40;
export const TAG_REQUEST = 0x50;
export const TAG_REQUEST_AGE = 0x51;

const ENTRY_PLAIN = 0x00;
const ENTRY_EXPIRING = 0x01;
const NO_TTL_ENTRY = -1;

const TWO_32 = 2 ** 32;

function writeU64(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32), offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

export function readU64(buf: Uint8Array, offset: number): number {
  const b = buf as Buffer;
  return b.readUInt32BE(offset) * TWO_32 + b.readUInt32BE(offset + 4);
}

function tagged(tag: number, extra: number): Buffer {
  const key = Buffer.allocUnsafe(1 + extra);
  key[0] = tag;
  return key;
}

function tagU64(tag: number, num: number, extra = 0): Buffer {
  const key = tagged(tag, 8 + extra);
  writeU64(key, 1, num);
  return key;
}

/** tag, u64, then `suffix` as it is. */
function tagU64Bytes(tag: number, num: number, suffix: Uint8Array): Buffer {
  const key = tagU64(tag, num, suffix.length);
  key.set(suffix, 9);
  return key;
}

/** The first key after every key that starts with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
}

// ---- meta ----

export const VERSION_KEY = Buffer.from([TAG_META, 0x76]);
export const NEXT_NUM_KEY = Buffer.from([TAG_META, 0x6e]);

export function encodeU32(value: number): Buffer {
  const buf = Buffer.allocUnsafe(4);
  buf.writeUInt32BE(value, 0);
  return buf;
}

export function encodeU64(value: number): Buffer {
  const buf = Buffer.allocUnsafe(8);
  writeU64(buf, 0, value);
  return buf;
}

// ---- catalog ----

export function nameKey(kind: ObjectKind, environment: string, name: string): Buffer {
  return Buffer.concat([Buffer.from([TAG_NAME, kind === "dict" ? 0x64 : 0x71]), Buffer.from(`${environment}\0${name}`, "utf8")]);
}

export function objectKey(num: number): Buffer {
  return tagU64(TAG_OBJECT, num);
}

/** One object's persisted row. Counts live elsewhere (dict-stats, partition rows). */
export interface ObjectRow {
  id: string;
  kind: ObjectKind;
  name: string | null;
  environment: string;
  createdAt: number;
  ephemeral: boolean;
  /** dicts: entry TTL in ms or null */
  entryTtlMs: number | null;
  /** dicts: the internal number under which its entries are stored */
  dataNum: number | null;
}

const rowCodec = new Packr({ useRecords: false });

export function encodeObjectRow(row: ObjectRow): Buffer {
  return rowCodec.pack(row);
}

export function decodeObjectRow(bytes: Uint8Array, key?: Uint8Array): ObjectRow {
  let row: unknown;
  try {
    row = rowCodec.unpack(bytes as Buffer);
  } catch (err) {
    throw new CorruptionError(`an object row that is not MessagePack (${(err as Error).message})`, atKey(key));
  }
  const r = row as Partial<ObjectRow> | null;
  const ok = typeof r === "object" && r !== null && typeof r.id === "string" && (r.kind === "dict" || r.kind === "queue") && typeof r.environment === "string";
  if (!ok) throw new CorruptionError("an object row without id, kind and environment", atKey(key));
  return row as ObjectRow;
}

// ---- dicts ----

export function dictStatsKey(dataNum: number): Buffer {
  return tagU64(TAG_DICT_STATS, dataNum);
}

export function encodeDictStats(count: number, bytes: number): Buffer {
  const buf = Buffer.allocUnsafe(16);
  writeU64(buf, 0, count);
  writeU64(buf, 8, bytes);
  return buf;
}

export function decodeDictStats(buf: Uint8Array, key?: Uint8Array): { count: number; bytes: number } {
  if (buf.length !== 16) throw new CorruptionError(`a dict-stats row of ${buf.length} bytes, expected 16`, atKey(key));
  return { count: readU64(buf, 0), bytes: readU64(buf, 8) };
}

export function dictPrefix(dataNum: number): Buffer {
  return tagU64(TAG_DICT_ENTRY, dataNum);
}

export function dictEntryKey(dataNum: number, key: Uint8Array): Buffer {
  return tagU64Bytes(TAG_DICT_ENTRY, dataNum, key);
}

/** The dict key inside a dict-entry key. */
export function dictKeyOf(entryKey: Buffer): Buffer {
  return entryKey.subarray(9);
}

export interface StoredEntry {
  payload: Buffer;
  /** ms; Infinity when the entry does not expire */
  expiresAt: number;
}

export function encodeDictEntry(payload: Uint8Array, expiresAt: number): Buffer {
  const expiring = expiresAt !== Infinity;
  const head = expiring ? 9 : 1;
  const out = Buffer.allocUnsafe(head + payload.length);
  out[0] = expiring ? ENTRY_EXPIRING : ENTRY_PLAIN;
  if (expiring) out.writeDoubleBE(expiresAt, 1);
  out.set(payload, head);
  return out;
}

export function decodeDictEntry(stored: Buffer, key?: Uint8Array): StoredEntry {
  if (stored[0] === ENTRY_PLAIN) return { payload: stored.subarray(1), expiresAt: Infinity };
  if (stored[0] === ENTRY_EXPIRING && stored.length >= 9) return { payload: stored.subarray(9), expiresAt: stored.readDoubleBE(1) };
  const found = stored.length === 0 ? "an empty dict entry" : stored[0] === ENTRY_EXPIRING ? `an expiring dict entry of ${stored.length} bytes` : `a dict entry with the header 0x${stored[0]!.toString(16)}`;
  throw new CorruptionError(found, atKey(key));
}

// ---- queues ----

export function partitionKey(queueNum: number, partKey: Uint8Array): Buffer {
  return tagU64Bytes(TAG_PARTITION, queueNum, partKey);
}

export interface PartitionRow {
  /** items below head still in the partition (reserved, delayed or visible again) */
  held: number;
  /** of which under a lease or a release delay */
  reserved: number;
  partNum: number;
  head: number;
  tail: number;
  expiresAt: number;
  /** time of this partition's ttl index entry, undefined when it has none */
  indexedAt: number | undefined;
  /** the first sequence of the run that holds the head item */
  headRun: number;
}

export function encodePartitionRow(row: PartitionRow): Buffer {
  // Rows of partitions that never held a reservation keep the 48 bytes of format 3 before reservations.
  const buf = Buffer.allocUnsafe(row.held === 0 ? 48 : 64);
  if (row.held !== 0) {
    writeU64(buf, 48, row.held);
    writeU64(buf, 56, row.reserved);
  }
  writeU64(buf, 0, row.partNum);
  writeU64(buf, 8, row.head);
  writeU64(buf, 16, row.tail);
  buf.writeDoubleBE(row.expiresAt, 24);
  buf.writeDoubleBE(row.indexedAt ?? NO_TTL_ENTRY, 32);
  writeU64(buf, 40, row.headRun);
  return buf;
}

export function decodePartitionRow(buf: Buffer, key?: Uint8Array): PartitionRow {
  if (buf.length !== 48 && buf.length !== 64) throw new CorruptionError(`a partition row of ${buf.length} bytes, expected 48 or 64`, atKey(key));
  const indexedAt = buf.readDoubleBE(32);
  return {
    held: buf.length === 64 ? readU64(buf, 48) : 0,
    reserved: buf.length === 64 ? readU64(buf, 56) : 0,
    partNum: readU64(buf, 0),
    head: readU64(buf, 8),
    tail: readU64(buf, 16),
    expiresAt: buf.readDoubleBE(24),
    indexedAt: indexedAt === NO_TTL_ENTRY ? undefined : indexedAt,
    headRun: readU64(buf, 40),
  };
}

/** One record for the items of one put: a count, then each item with its length. */
export function encodeRun(values: readonly Uint8Array[]): Buffer {
  let size = 4;
  for (const v of values) size += 4 + v.length;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(values.length, 0);
  let at = 4;
  for (const v of values) {
    out.writeUInt32BE(v.length, at);
    out.set(v, at + 4);
    at += 4 + v.length;
  }
  return out;
}

/**
 * The payloads of a run record, as views into it (CorruptionError if it is malformed).
 * Plain Uint8Array views rather than Buffer subarrays: building a Buffer view cost twice
 * as much (a run of 100: 3.5 vs 1.5 us).
 */
export function decodeRun(record: Buffer, key?: Uint8Array): Uint8Array[] {
  if (record.length < 4) throw new CorruptionError(`a run record of ${record.length} bytes`, atKey(key));
  const count = record.readUInt32BE(0);
  const out: Uint8Array[] = new Array(count);
  const { buffer, byteOffset } = record;
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 4 > record.length) throw truncatedRun(record, i, count, key);
    const length = record.readUInt32BE(at);
    if (at + 4 + length > record.length) throw truncatedRun(record, i, count, key);
    out[i] = new Uint8Array(buffer, byteOffset + at + 4, length);
    at += 4 + length;
  }
  if (count === 0) throw new CorruptionError("a run record of no items", atKey(key));
  if (at !== record.length) throw new CorruptionError(`a run record with ${record.length - at} bytes after its ${count} items`, atKey(key));
  return out;
}

function truncatedRun(record: Buffer, item: number, count: number, key: Uint8Array | undefined): CorruptionError {
  return new CorruptionError(`a run record of ${record.length} bytes that ends inside item ${item} of ${count}`, atKey(key));
}

export function itemKey(partNum: number, seq: number): Buffer {
  const key = tagU64(TAG_ITEM, partNum, 8);
  writeU64(key, 9, seq);
  return key;
}

export function itemsPrefix(partNum: number): Buffer {
  return tagU64(TAG_ITEM, partNum);
}

// ---- reservations (engine/holds.ts) ----

export const HOLD_PREFIX = Buffer.from([TAG_HOLD]);
export const MOVED_PREFIX = Buffer.from([TAG_MOVED]);

export function holdKey(partNum: number, groupNum: number): Buffer {
  const key = tagU64(TAG_HOLD, partNum, 8);
  writeU64(key, 9, groupNum);
  return key;
}

export function holdsPrefix(partNum: number): Buffer {
  return tagU64(TAG_HOLD, partNum);
}

export function movedKey(partNum: number, seq: number): Buffer {
  const key = tagU64(TAG_MOVED, partNum, 8);
  writeU64(key, 9, seq);
  return key;
}

export function movedPrefix(partNum: number): Buffer {
  return tagU64(TAG_MOVED, partNum);
}

/** Persisted: DO NOT CHANGE. */
export const HOLD_LEASE = 0;
export const HOLD_DELAY = 1;
export const HOLD_VISIBLE = 2;
export type HoldState = typeof HOLD_LEASE | typeof HOLD_DELAY | typeof HOLD_VISIBLE;

const NO_DEAD_LETTER = 0xffff;
const HOLD_HEAD_BYTES = 1 + 8 + 4 + 2 + 4;
const HOLD_RANGE_BYTES = 8 + 4 + 8 + 4 + 8;

export interface HoldRange {
  seq: number;
  count: number;
  run: number;
  deliveries: number;
  owner: number;
}

export interface HoldRecord {
  state: HoldState;
  /** ms on the store's clock; -1 for visible */
  deadline: number;
  /** 0: none */
  maxDeliveries: number;
  /** undefined: none; "" the default partition */
  deadLetter: string | undefined;
  ranges: HoldRange[];
}

export function encodeHold(record: HoldRecord): Buffer {
  const dlq = record.deadLetter === undefined ? undefined : Buffer.from(record.deadLetter, "utf8");
  const out = Buffer.allocUnsafe(HOLD_HEAD_BYTES + (dlq?.length ?? 0) + record.ranges.length * HOLD_RANGE_BYTES);
  out[0] = record.state;
  out.writeDoubleBE(record.deadline, 1);
  out.writeUInt32BE(record.maxDeliveries, 9);
  out.writeUInt16BE(dlq === undefined ? NO_DEAD_LETTER : dlq.length, 13);
  let at = 15;
  if (dlq) {
    dlq.copy(out, at);
    at += dlq.length;
  }
  out.writeUInt32BE(record.ranges.length, at);
  at += 4;
  for (const r of record.ranges) {
    writeU64(out, at, r.seq);
    out.writeUInt32BE(r.count, at + 8);
    writeU64(out, at + 12, r.run);
    out.writeUInt32BE(r.deliveries, at + 20);
    writeU64(out, at + 24, r.owner);
    at += HOLD_RANGE_BYTES;
  }
  return out;
}

export function decodeHold(buf: Buffer, key?: Uint8Array): HoldRecord {
  const bad = (what: string): CorruptionError => new CorruptionError(`a hold record ${what}`, atKey(key));
  if (buf.length < HOLD_HEAD_BYTES) throw bad(`of ${buf.length} bytes`);
  const state = buf[0]!;
  if (state !== HOLD_LEASE && state !== HOLD_DELAY && state !== HOLD_VISIBLE) throw bad(`with the state ${state}`);
  const dlqLength = buf.readUInt16BE(13);
  let at = 15;
  let deadLetter: string | undefined;
  if (dlqLength !== NO_DEAD_LETTER) {
    if (at + dlqLength + 4 > buf.length) throw bad("that ends inside its dead-letter partition");
    deadLetter = buf.toString("utf8", at, at + dlqLength);
    at += dlqLength;
  }
  const count = buf.readUInt32BE(at);
  at += 4;
  if (at + count * HOLD_RANGE_BYTES !== buf.length) throw bad(`of ${buf.length} bytes for ${count} ranges`);
  const ranges: HoldRange[] = new Array(count);
  for (let i = 0; i < count; i++) {
    ranges[i] = { seq: readU64(buf, at), count: buf.readUInt32BE(at + 8), run: readU64(buf, at + 12), deliveries: buf.readUInt32BE(at + 20), owner: readU64(buf, at + 24) };
    at += HOLD_RANGE_BYTES;
  }
  return { state: state as HoldState, deadline: buf.readDoubleBE(1), maxDeliveries: buf.readUInt32BE(9), deadLetter, ranges };
}

export interface MovedRecord {
  deliveries: number;
  /** where the item was before, oldest first: [partNum, seq] */
  origins: Array<[number, number]>;
}

export function encodeMoved(record: MovedRecord): Buffer {
  const out = Buffer.allocUnsafe(8 + 16 * record.origins.length);
  out.writeUInt32BE(record.deliveries, 0);
  out.writeUInt32BE(record.origins.length, 4);
  let at = 8;
  for (const [num, seq] of record.origins) {
    writeU64(out, at, num);
    writeU64(out, at + 8, seq);
    at += 16;
  }
  return out;
}

export function decodeMoved(buf: Buffer, key?: Uint8Array): MovedRecord {
  if (buf.length < 8 || buf.length !== 8 + 16 * buf.readUInt32BE(4)) throw new CorruptionError(`a moved record of ${buf.length} bytes`, atKey(key));
  const origins: Array<[number, number]> = [];
  for (let at = 8; at < buf.length; at += 16) origins.push([readU64(buf, at), readU64(buf, at + 8)]);
  return { deliveries: buf.readUInt32BE(0), origins };
}

// ---- ttl index ----

export const TTL_PREFIX = Buffer.from([TAG_TTL]);

/**
 * The expiry time `ttlMs` after `now`, in whole ms. A deadline past 2^53 ms (year
 * 287,396) cannot be stored exactly in the ttl index; such a ttl means never, like Infinity.
 */
export function deadlineAfter(now: number, ttlMs: number): number {
  const at = Math.ceil(now + ttlMs);
  return at > Number.MAX_SAFE_INTEGER ? Infinity : at;
}

/**
 * The value of a ttl index entry: one 0 byte, never empty. classic-level 3.0.0 copies a
 * value into `new char[size]` and frees the copy only when the size is not 0, so each
 * zero-length value leaked its allocation (about 32 bytes of native memory per put: a
 * queue server's RSS grew by 4 MiB per 128k puts). Readers ignore the value.
 */
export const TTL_ENTRY_VALUE = Buffer.from([0]);

/** ttl keys hold whole ms; fractional expiry times round up so an entry is never swept early. */
export function ttlTime(at: number): number {
  return Math.max(0, Math.ceil(at));
}

export function ttlPartitionKey(at: number, partNum: number): Buffer {
  const key = tagU64(TAG_TTL, ttlTime(at), 9);
  key[9] = TAG_ITEM;
  writeU64(key, 10, partNum);
  return key;
}

export function ttlDictKey(at: number, dataNum: number, dictKey: Uint8Array): Buffer {
  const key = tagU64(TAG_TTL, ttlTime(at), 9 + dictKey.length);
  key[9] = TAG_DICT_ENTRY;
  writeU64(key, 10, dataNum);
  key.set(dictKey, 18);
  return key;
}

/** The first ttl key due strictly after `now`. */
export function ttlBound(now: number): Buffer {
  return tagU64(TAG_TTL, Math.max(0, Math.floor(now) + 1));
}

export type TtlRef =
  | { kind: "partition"; at: number; partNum: number }
  | { kind: "dict"; at: number; dataNum: number; dictKey: Buffer };

export function decodeTtlKey(key: Buffer): TtlRef {
  const at = readU64(key, 1);
  if (key[9] === TAG_ITEM) return { kind: "partition", at, partNum: readU64(key, 10) };
  return { kind: "dict", at, dataNum: readU64(key, 10), dictKey: key.subarray(18) };
}

// ---- garbage ----

export const GARBAGE_PREFIX = Buffer.from([TAG_GARBAGE]);
export const GARBAGE_DICT_DATA = TAG_DICT_ENTRY;
export const GARBAGE_ITEMS = TAG_ITEM;

export function garbageKey(num: number): Buffer {
  return tagU64(TAG_GARBAGE, num);
}

export function numOfGarbageKey(key: Buffer): number {
  return readU64(key, 1);
}

/** A garbage marker's value: its kind, and (format 4) the time before which it is not collected. */
export function encodeGarbageMarker(kind: number, notBefore = 0): Buffer {
  if (notBefore <= 0) return Buffer.from([kind]);
  const value = Buffer.alloc(9);
  value[0] = kind;
  writeU64(value, 1, Math.floor(notBefore));
  return value;
}

export function decodeGarbageMarker(value: Uint8Array): { kind: number; notBefore: number } {
  return { kind: value[0]!, notBefore: value.length >= 9 ? readU64(value, 1) : 0 };
}

// ---- request records (engine/requests.ts) ----

export function requestKey(requestId: string): Buffer {
  const key = tagged(TAG_REQUEST, requestId.length);
  key.write(requestId, 1, "latin1");
  return key;
}

export function requestAgeKey(recordedAt: number, requestId: string): Buffer {
  const key = tagU64(TAG_REQUEST_AGE, Math.max(0, Math.floor(recordedAt)), requestId.length);
  key.write(requestId, 9, "latin1");
  return key;
}

/** The first request-age key of a record made at or after `at`. */
export function requestAgeBound(at: number): Buffer {
  return tagU64(TAG_REQUEST_AGE, Math.max(0, Math.floor(at)));
}

export const REQUEST_AGE_PREFIX = Buffer.from([TAG_REQUEST_AGE]);

/**
 * The id of a request-age row that deletes run `first` of partition `partNum` when it is
 * pruned (format 4): a run that a get's request record names by reference stays until then.
 * `~` is outside the characters of request ids, so no record has such an id.
 */
export function sweptRunId(partNum: number, first: number): string {
  return `~${partNum.toString(36)}.${first.toString(36)}`;
}

/** The run a request-age row of sweptRunId() deletes, or undefined for the row of a record. */
export function decodeSweptRunId(id: string): { partNum: number; first: number } | undefined {
  if (id.charCodeAt(0) !== 0x7e) return undefined;
  const dot = id.indexOf(".");
  const partNum = parseInt(id.slice(1, dot), 36);
  const first = parseInt(id.slice(dot + 1), 36);
  if (dot < 0 || !Number.isSafeInteger(partNum) || !Number.isSafeInteger(first)) throw new CorruptionError(`a request-age row naming run ${JSON.stringify(id)}`, "a request-age row");
  return { partNum, first };
}

export function decodeRequestAgeKey(key: Uint8Array): { recordedAt: number; requestId: string } {
  if (key.length < 10 || key[0] !== TAG_REQUEST_AGE) throw new CorruptionError("a request-age row shorter than its tag and time", atKey(key));
  return { recordedAt: readU64(key, 1), requestId: Buffer.from(key.buffer, key.byteOffset + 9, key.length - 9).toString("latin1") };
}

export function encodeRequestRecord(recordedAt: number, outcome: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + outcome.length);
  writeU64(out, 0, Math.max(0, Math.floor(recordedAt)));
  outcome.copy(out, 8);
  return out;
}

export function decodeRequestRecord(value: Uint8Array): { recordedAt: number; outcome: Uint8Array } {
  if (value.length < 9) throw new CorruptionError(`a request row of ${value.length} bytes, expected at least 9`, "a request row");
  return { recordedAt: readU64(value, 0), outcome: value.subarray(8) };
}
