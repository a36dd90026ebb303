// Golden bytes of every row of the persisted layout (engine/layout.ts, docs/format.md):
// each key and value builder must produce exactly these bytes, and each reader must read
// them back. A store written by this release is read by every later one, so a change here
// is a format change: bump FORMAT_VERSION and write a migration; never edit a row.

import { describe, expect, it } from "vitest";
import * as L from "../../engine/layout.ts";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const bytes = (h: string): Buffer => Buffer.from(h, "hex");

/** An encoded dict key "a" (proto/keys.ts) and an encoded value true (proto/values.ts). */
const KEY_A = bytes("306100");
const VALUE_TRUE = bytes("c3");
const T = 1_750_000_000_000;

describe("the persisted layout's bytes (format version 4)", () => {
  it("meta: the format version and the next internal number", () => {
    expect(L.FORMAT_VERSION).toBe(4);
    expect(hex(L.VERSION_KEY)).toBe("0076");
    expect(hex(L.encodeU32(L.FORMAT_VERSION))).toBe("00000004");
    expect(hex(L.NEXT_NUM_KEY)).toBe("006e");
    expect(hex(L.encodeU64(2 ** 40 + 5))).toBe("0000010000000005");
    expect(L.readU64(bytes("0000010000000005"), 0)).toBe(2 ** 40 + 5);
  });

  it("name: kind, environment, 0x00, name", () => {
    expect(hex(L.nameKey("dict", "main", "d1"))).toBe("01646d61696e006431");
    expect(hex(L.nameKey("queue", "env", "q"))).toBe("0171656e760071");
  });

  it("object: the key and the MessagePack row", () => {
    expect(hex(L.objectKey(7))).toBe("020000000000000007");
    const dict: L.ObjectRow = { id: "di-abc", kind: "dict", name: "d1", environment: "main", createdAt: T, ephemeral: false, entryTtlMs: 60_000, dataNum: 8 };
    const dictHex =
      "de0008a26964a664692d616263a46b696e64a464696374a46e616d65a26431ab656e7669726f6e6d656e74a46d61696e" +
      "a9637265617465644174cb427977420dc00000a9657068656d6572616cc2aa656e74727954746c4d73cdea60a7646174614e756d08";
    expect(hex(L.encodeObjectRow(dict))).toBe(dictHex);
    expect(L.decodeObjectRow(bytes(dictHex))).toEqual(dict);
    const queue: L.ObjectRow = { id: "qu-abc", kind: "queue", name: null, environment: "main", createdAt: T + 0.5, ephemeral: true, entryTtlMs: null, dataNum: null };
    const queueHex =
      "de0008a26964a671752d616263a46b696e64a57175657565a46e616d65c0ab656e7669726f6e6d656e74a46d61696e" +
      "a9637265617465644174cb427977420dc00800a9657068656d6572616cc3aa656e74727954746c4d73c0a7646174614e756dc0";
    expect(hex(L.encodeObjectRow(queue))).toBe(queueHex);
    expect(L.decodeObjectRow(bytes(queueHex))).toEqual(queue);
  });

  it("dict-stats: entries and bytes", () => {
    expect(hex(L.dictStatsKey(8))).toBe("030000000000000008");
    expect(hex(L.encodeDictStats(3, 2 ** 33 + 1))).toBe("00000000000000030000000200000001");
    expect(L.decodeDictStats(bytes("00000000000000030000000200000001"))).toEqual({ count: 3, bytes: 2 ** 33 + 1 });
  });

  it("dict-entry: plain and expiring", () => {
    expect(hex(L.dictPrefix(8))).toBe("100000000000000008");
    expect(hex(L.dictEntryKey(8, KEY_A))).toBe("100000000000000008306100");
    expect(hex(L.dictKeyOf(bytes("100000000000000008306100")))).toBe("306100");
    expect(hex(L.encodeDictEntry(VALUE_TRUE, Infinity))).toBe("00c3");
    expect(hex(L.encodeDictEntry(VALUE_TRUE, T + 60_000))).toBe("01427977421c660000c3");
    expect(L.decodeDictEntry(bytes("00c3"))).toEqual({ payload: VALUE_TRUE, expiresAt: Infinity });
    expect(L.decodeDictEntry(bytes("01427977421c660000c3"))).toEqual({ payload: VALUE_TRUE, expiresAt: T + 60_000 });
  });

  it("partition: the key and the 48-byte row", () => {
    expect(hex(L.partitionKey(7, Buffer.from("p1")))).toBe("2000000000000000077031");
    expect(hex(L.partitionKey(7, Buffer.alloc(0)))).toBe("200000000000000007");
    const live: L.PartitionRow = { held: 0, reserved: 0, partNum: 9, head: 1, tail: 5, expiresAt: T + 86_400_000, indexedAt: T + 86_400_000, headRun: 0 };
    const liveHex = "000000000000000900000000000000010000000000000005427977947380000042797794738000000000000000000000";
    expect(hex(L.encodePartitionRow(live))).toBe(liveHex);
    expect(L.decodePartitionRow(bytes(liveHex))).toEqual(live);
    const never: L.PartitionRow = { held: 0, reserved: 0, partNum: 9, head: 0, tail: 0, expiresAt: Infinity, indexedAt: undefined, headRun: 0 };
    const neverHex = "0000000000000009000000000000000000000000000000007ff0000000000000bff00000000000000000000000000000";
    expect(hex(L.encodePartitionRow(never))).toBe(neverHex);
    expect(L.decodePartitionRow(bytes(neverHex))).toEqual(never);
    // With reservations: 64 bytes, the held and reserved counts after headRun.
    const holding: L.PartitionRow = { ...live, held: 3, reserved: 2 };
    const holdingHex = liveHex + "00000000000000030000000000000002";
    expect(hex(L.encodePartitionRow(holding))).toBe(holdingHex);
    expect(L.decodePartitionRow(bytes(holdingHex))).toEqual(holding);
  });

  it("hold and moved: keys and records", () => {
    expect(hex(L.holdKey(9, 12))).toBe("220000000000000009000000000000000c");
    expect(hex(L.movedKey(9, 5))).toBe("230000000000000009" + "0000000000000005");
    const hold: L.HoldRecord = { state: L.HOLD_LEASE, deadline: T + 30_000, maxDeliveries: 5, deadLetter: "dead", ranges: [{ seq: 1, count: 100, run: 0, deliveries: 1, owner: 12 }] };
    const holdHex =
      "00" + "4279774215130000" + "00000005" + "0004" + "64656164" + "00000001" +
      "0000000000000001" + "00000064" + "0000000000000000" + "00000001" + "000000000000000c";
    expect(hex(L.encodeHold(hold))).toBe(holdHex);
    expect(L.decodeHold(bytes(holdHex))).toEqual(hold);
    const visible: L.HoldRecord = { state: L.HOLD_VISIBLE, deadline: -1, maxDeliveries: 0, deadLetter: undefined, ranges: [] };
    expect(L.decodeHold(L.encodeHold(visible))).toEqual(visible);
    expect(() => L.decodeHold(bytes("07"))).toThrow(/hold record/);
    const moved: L.MovedRecord = { deliveries: 5, origins: [[9, 1]] };
    const movedHex = "00000005" + "00000001" + "0000000000000009" + "0000000000000001";
    expect(hex(L.encodeMoved(moved))).toBe(movedHex);
    expect(L.decodeMoved(bytes(movedHex))).toEqual(moved);
  });

  it("item: the key and the run", () => {
    expect(hex(L.itemsPrefix(9))).toBe("210000000000000009");
    expect(hex(L.itemKey(9, 2 ** 32 + 3))).toBe("2100000000000000090000000100000003");
    const runHex = "0000000200000001c3000000020102";
    expect(hex(L.encodeRun([VALUE_TRUE, bytes("0102")]))).toBe(runHex);
    expect(L.decodeRun(bytes(runHex)).map(hex)).toEqual(["c3", "0102"]);
  });

  it("ttl: a partition and a dict entry due at a time (whole ms, rounded up)", () => {
    expect(hex(L.ttlPartitionKey(T + 86_400_000.2, 9))).toBe("300000019779473801210000000000000009");
    expect(hex(L.ttlDictKey(T + 60_000, 8, KEY_A))).toBe("30000001977421c660100000000000000008306100");
    expect(hex(L.TTL_ENTRY_VALUE)).toBe("00");
    expect(L.decodeTtlKey(bytes("300000019779473801210000000000000009"))).toEqual({ kind: "partition", at: T + 86_400_001, partNum: 9 });
    expect(L.decodeTtlKey(bytes("30000001977421c660100000000000000008306100"))).toEqual({ kind: "dict", at: T + 60_000, dataNum: 8, dictKey: KEY_A });
    expect(hex(L.ttlBound(T))).toBe(hex(L.ttlPartitionKey(T + 1, 0)).slice(0, 18));
  });

  it("garbage: the key and what kind of range it names", () => {
    expect(hex(L.garbageKey(10))).toBe("40000000000000000a");
    expect(L.numOfGarbageKey(bytes("40000000000000000a"))).toBe(10);
    expect([L.GARBAGE_DICT_DATA, L.GARBAGE_ITEMS]).toEqual([0x10, 0x21]);
    expect(hex(L.encodeGarbageMarker(0x21))).toBe("21");
    expect(hex(L.encodeGarbageMarker(0x21, T))).toBe("21000001977420dc00");
    expect(L.decodeGarbageMarker(bytes("21000001977420dc00"))).toEqual({ kind: 0x21, notBefore: T });
    expect(L.decodeGarbageMarker(bytes("10"))).toEqual({ kind: 0x10, notBefore: 0 });
  });

  it("request: the record by id, and by age; a run kept for records by age (format 4)", () => {
    expect(hex(L.requestKey("r-1"))).toBe("50722d31");
    expect(hex(L.requestAgeKey(T, "r-1"))).toBe("51000001977420dc00722d31");
    expect(L.sweptRunId(9, 1_000)).toBe("~9.rs");
    expect(hex(L.requestAgeKey(T, L.sweptRunId(9, 1_000)))).toBe("51000001977420dc007e392e7273");
    expect(L.decodeSweptRunId("~9.rs")).toEqual({ partNum: 9, first: 1_000 });
    expect(L.decodeSweptRunId("r-1")).toBeUndefined();
    expect(hex(L.encodeRequestRecord(T, Buffer.from([0x80])))).toBe("000001977420dc0080");
  });
});
