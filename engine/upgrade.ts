// Upgrading a data folder from format version 2 to 3: the keys and rows are the same, only
// the values (dict entry payloads and queue item payloads) change encoding, from msgpackr
// "records" (format 2) to the standard MessagePack grammar of proto/values.ts (format 3).
//
// Every value is rewritten once, at open, in key order and in batches; the folder is never
// read with both encodings at once, so the server and every client only ever see format 3.
// The first batch sets the version to 3 and writes an upgrade cursor (0x00 "u": the last key
// rewritten), and every batch moves the cursor in the same atomic write as the values it
// rewrote; so a crash (SIGKILL, power cut) at any point leaves every value either rewritten
// and behind the cursor, or untouched and after it, and the next open resumes after the
// cursor. The last batch deletes the cursor. A release that reads only format 2 refuses
// the folder from the first batch on (its version is 3), instead of misreading new values.
// Before the first batch, a pass that writes nothing checks that every value can be
// rewritten (one that contains itself cannot: format 3 has no references), so a folder
// that cannot be upgraded is refused while it is still untouched format 2.
//
// A dict's byte count (dict-stats) changes with its values' sizes: each batch also rewrites
// the stats rows of the dicts whose entries it rewrote. Entries and items of ranges already
// marked as garbage are left as they are (garbage collection deletes them unread).

import { Packr } from "msgpackr";
import { InternalError } from "../proto/errors.ts";
import { asBuffer } from "../proto/msgpack.ts";
import { encodeValue } from "../proto/values.ts";
import { packEnvelope, unpackEnvelope } from "../proto/wire.ts";
import type { Db } from "./commit.ts";
import {
  GARBAGE_PREFIX,
  TAG_DICT_ENTRY,
  TAG_ITEM,
  TAG_META,
  VERSION_KEY,
  decodeDictEntry,
  decodeDictStats,
  decodeRequestRecord,
  encodeRequestRecord,
  TAG_REQUEST,
  decodeRun,
  dictStatsKey,
  encodeDictEntry,
  encodeDictStats,
  encodeRun,
  encodeU32,
  numOfGarbageKey,
  prefixEnd,
  readU64,
} from "./layout.ts";

/** 0x00 "u": present while an upgrade to format 3 is under way; the last key rewritten. */
export const UPGRADE_KEY = Buffer.from([TAG_META, 0x75]);

/**
 * The format-2 value decoder: msgpackr with the options format 2 was written with (records
 * defined inline, structured clone for Map, Set, Date, RegExp and typed arrays, bigints as
 * msgpackr's extension). Kept only to read folders written before format 3.
 */
const v2 = new Packr({ structuredClone: true, useBigIntExtension: true, copyBuffers: true });

export function decodeV2Value(bytes: Uint8Array): unknown {
  return v2.unpack(asBuffer(bytes));
}

export interface UpgradeOptions {
  /** Records (dict entries or item runs) rewritten per batch. */
  batchRecords?: number;
  /** Payload bytes per batch, at most (a batch holds at least one record). */
  batchBytes?: number;
  /** Called after each batch is on disk (tests). */
  onBatch?: (done: number) => void;
}

const BATCH_RECORDS = 2_000;
const BATCH_BYTES = 8 * 1024 * 1024;
const FIRST_VALUE_KEY = Buffer.from([TAG_DICT_ENTRY]);
const REQUEST_PREFIX = Buffer.from([TAG_REQUEST]);
const END_VALUE_KEYS = Buffer.from([TAG_ITEM + 1]);

type Op = { type: "put"; key: Buffer; value: Buffer } | { type: "del"; key: Buffer };

function describeKey(key: Buffer): string {
  return key[0] === TAG_DICT_ENTRY
    ? `the entry of dict data ${readU64(key, 1)} with key bytes ${key.subarray(9).toString("hex")}`
    : `the queue items of partition ${readU64(key, 1)} from seq ${readU64(key, 9)}`;
}

function reencode(bytes: Uint8Array, key: Buffer): Buffer {
  let value: unknown;
  try {
    value = decodeV2Value(bytes);
  } catch (err) {
    throw new InternalError(`cannot upgrade the data folder to format 3: ${describeKey(key)} does not decode as format 2 (${(err as Error).message})`, { cause: err });
  }
  try {
    return encodeValue(value);
  } catch (err) {
    throw new InternalError(
      `cannot upgrade the data folder to format 3: ${describeKey(key)} holds a value format 3 cannot store (${(err as Error).message}); ` +
        `nothing was changed: open the folder with the previous release, replace that value, and open it again with this one`,
      { cause: err },
    );
  }
}

/**
 * Rewrites every value of a format-2 folder (or of one whose upgrade was cut off) in format
 * 3, then leaves the folder at version 3 without an upgrade cursor. Resumable at any point.
 */
export async function upgradeToFormat3(db: Db, options: UpgradeOptions = {}): Promise<void> {
  const batchRecords = options.batchRecords ?? BATCH_RECORDS;
  const batchBytes = options.batchBytes ?? BATCH_BYTES;
  let cursor = db.getSync(UPGRADE_KEY);
  // Ranges already unreachable: dict data numbers and partition numbers marked as garbage.
  const garbage = new Set<string>();
  for await (const [key, value] of db.iterator({ gte: GARBAGE_PREFIX, lt: prefixEnd(GARBAGE_PREFIX) })) {
    garbage.add(`${value[0]}:${numOfGarbageKey(key)}`);
  }
  const skip = (key: Buffer): boolean => (key[0] !== TAG_DICT_ENTRY && key[0] !== TAG_ITEM) || garbage.has(`${key[0]}:${readU64(key, 1)}`);

  if (cursor === undefined) {
    // First a pass that writes nothing: a value format 3 cannot hold stops the upgrade while
    // the folder is still format 2, which the previous release opens to replace that value.
    for await (const [key, stored] of db.iterator({ gte: FIRST_VALUE_KEY, lt: END_VALUE_KEYS })) {
      if (skip(key)) continue;
      if (key[0] === TAG_DICT_ENTRY) reencode(decodeDictEntry(stored).payload, key);
      else for (const item of decodeRun(stored)) reencode(item, key);
    }
    cursor = Buffer.from(FIRST_VALUE_KEY);
    await db.batch(
      [
        { type: "put", key: VERSION_KEY, value: encodeU32(3) },
        { type: "put", key: UPGRADE_KEY, value: cursor },
      ],
      { sync: true } as object,
    );
  }

  const range = cursor.equals(FIRST_VALUE_KEY) ? { gte: FIRST_VALUE_KEY, lt: END_VALUE_KEYS } : { gt: cursor, lt: END_VALUE_KEYS };
  let ops: Op[] = [];
  let bytes = 0;
  let last: Buffer | undefined;
  let done = 0;
  const statDeltas = new Map<number, number>();

  const flush = async (): Promise<void> => {
    if (last === undefined) return;
    for (const [dataNum, delta] of statDeltas) {
      const statsKey = dictStatsKey(dataNum);
      const stats = db.getSync(statsKey);
      if (stats === undefined || delta === 0) continue;
      const { count, bytes: before } = decodeDictStats(stats);
      ops.push({ type: "put", key: statsKey, value: encodeDictStats(count, before + delta) });
    }
    ops.push({ type: "put", key: UPGRADE_KEY, value: last });
    await db.batch(ops, { sync: true } as object);
    done += 1;
    options.onBatch?.(done);
    ops = [];
    bytes = 0;
    last = undefined;
    statDeltas.clear();
  };

  for await (const [key, stored] of db.iterator(range)) {
    if (skip(key)) continue; // partition rows sit between the two ranges
    if (key[0] === TAG_DICT_ENTRY) {
      const entry = decodeDictEntry(stored);
      const payload = reencode(entry.payload, key);
      const dataNum = readU64(key, 1);
      statDeltas.set(dataNum, (statDeltas.get(dataNum) ?? 0) + payload.length - entry.payload.length);
      ops.push({ type: "put", key, value: encodeDictEntry(payload, entry.expiresAt) });
      bytes += payload.length;
    } else {
      const run = decodeRun(stored).map((item) => reencode(item, key));
      const record = encodeRun(run);
      ops.push({ type: "put", key, value: record });
      bytes += record.length;
    }
    last = key;
    if (ops.length >= batchRecords || bytes >= batchBytes) await flush();
  }
  await flush();
  await db.batch(
    [
      ...(await requestRecordsInFormat3(db)),
      { type: "put", key: VERSION_KEY, value: encodeU32(3) },
      { type: "del", key: UPGRADE_KEY },
    ],
    { sync: true } as object,
  );
}

/**
 * The records of applied request ids (engine/requests.ts) hold the values a pop or a get
 * returned, in format 2's bytes: a retry answered from one after the upgrade must get
 * format 3. They last a minute (requestIdRetentionMs), so there are few; rewritten in the
 * upgrade's last batch. Idempotent: a value already in format 3 is not in this range twice.
 */
async function requestRecordsInFormat3(db: Db): Promise<Op[]> {
  const ops: Op[] = [];
  for await (const [key, stored] of db.iterator({ gte: REQUEST_PREFIX, lt: prefixEnd(REQUEST_PREFIX) })) {
    const { recordedAt, outcome } = decodeRequestRecord(stored);
    const envelope = unpackEnvelope(outcome) as { o?: unknown };
    const o = envelope.o;
    let upgraded: unknown = o;
    if (o instanceof Uint8Array) upgraded = reencode(o, key);
    else if (Array.isArray(o) && o.every((v) => v instanceof Uint8Array)) upgraded = o.map((v: Uint8Array) => reencode(v, key));
    if (upgraded !== o) ops.push({ type: "put", key, value: encodeRequestRecord(recordedAt, packEnvelope({ o: upgraded })) });
  }
  return ops;
}
