// Rows that do not parse are CorruptionError (code INTERNAL) saying what was found and
// where, from the layout's readers and from a real store whose rows were damaged on disk.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterAll, describe, expect, it } from "vitest";
import { open } from "../../index.ts";
import { CorruptionError } from "../../engine/corruption.ts";
import * as L from "../../engine/layout.ts";
import { encodeKey } from "../../proto/keys.ts";
import { InternalError } from "../../proto/errors.ts";

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function expectCorrupt(read: () => unknown, found: RegExp, key?: Uint8Array): void {
  try {
    read();
  } catch (err) {
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as CorruptionError).code).toBe("INTERNAL");
    expect((err as Error).message).toMatch(found);
    if (key) expect((err as Error).message).toContain(Buffer.from(key).toString("hex"));
    return;
  }
  throw new Error("expected a CorruptionError");
}

describe("the layout's readers", () => {
  const key = L.dictEntryKey(8, encodeKey("a"));
  it("refuse a dict entry with an unknown header, or too short for its expiry", () => {
    expectCorrupt(() => L.decodeDictEntry(Buffer.from([0x07, 1]), key), /header 0x7/, key);
    expectCorrupt(() => L.decodeDictEntry(Buffer.from([0x01, 1, 2]), key), /expiring dict entry of 3 bytes/, key);
    expectCorrupt(() => L.decodeDictEntry(Buffer.alloc(0), key), /empty dict entry/, key);
  });

  it("refuse a partition row of the wrong size and dict stats of the wrong size", () => {
    expectCorrupt(() => L.decodePartitionRow(Buffer.alloc(47), key), /partition row of 47 bytes/, key);
    expectCorrupt(() => L.decodeDictStats(Buffer.alloc(15), key), /dict-stats row of 15 bytes/, key);
  });

  it("refuse runs that are truncated, empty or too long", () => {
    const good = L.encodeRun([Buffer.from([1, 2, 3]), Buffer.from([4])]);
    expectCorrupt(() => L.decodeRun(good.subarray(0, 3), key), /run record of 3 bytes/, key);
    expectCorrupt(() => L.decodeRun(good.subarray(0, good.length - 1), key), /ends inside item 1 of 2/, key);
    expectCorrupt(() => L.decodeRun(Buffer.concat([good, Buffer.from([0])]), key), /1 bytes after its 2 items/, key);
    expectCorrupt(() => L.decodeRun(L.encodeU32(0), key), /no items/, key);
  });

  it("refuse an object row that is not MessagePack or lacks its fields", () => {
    expectCorrupt(() => L.decodeObjectRow(Buffer.from([0x82, 0xa1]), key), /not MessagePack/, key);
    expectCorrupt(() => L.decodeObjectRow(Buffer.from([0x81, 0xa2, 0x69, 0x64, 0x07]), key), /without id, kind and environment/, key);
  });
});

describe("a store with a damaged row", () => {
  async function damaged(write: (db: ClassicLevel<Buffer, Buffer>) => Promise<void>): Promise<string> {
    const folder = mkdtempSync(join(tmpdir(), "larder-corrupt-"));
    folders.push(folder);
    const store = await open(folder);
    const d = await store.dicts.fromName("d", { createIfMissing: true });
    await d.put("a", 1);
    const q = await store.queues.fromName("q", { createIfMissing: true });
    await q.putMany([1, 2, 3]);
    await store.close();
    const db = new ClassicLevel<Buffer, Buffer>(folder, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await db.open();
    try {
      await write(db);
    } finally {
      await db.close();
    }
    return folder;
  }

  async function rowsWithTag(db: ClassicLevel<Buffer, Buffer>, tag: number): Promise<Buffer[]> {
    const keys: Buffer[] = [];
    for await (const key of db.keys({ gte: Buffer.from([tag]), lt: Buffer.from([tag + 1]) })) keys.push(key);
    return keys;
  }

  it("answers INTERNAL naming the entry's key for a dict entry that does not parse", async () => {
    let entryKey: Buffer | undefined;
    const folder = await damaged(async (db) => {
      [entryKey] = await rowsWithTag(db, L.TAG_DICT_ENTRY);
      await db.put(entryKey!, Buffer.from([0x09]));
    });
    const store = await open(folder);
    try {
      const d = await store.dicts.fromName("d");
      const err = await d.get("a").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptionError);
      expect((err as Error).message).toContain(entryKey!.toString("hex"));
    } finally {
      await store.close();
    }
  });

  it("answers INTERNAL for a run that does not parse, and refuses to open a partition row with head past tail", async () => {
    const runFolder = await damaged(async (db) => {
      const [runKey] = await rowsWithTag(db, L.TAG_ITEM);
      await db.put(runKey!, Buffer.from([0, 0, 0, 5]));
    });
    const store = await open(runFolder);
    try {
      const q = await store.queues.fromName("q");
      await expect(q.get({ timeoutMs: 0 })).rejects.toBeInstanceOf(CorruptionError);
    } finally {
      await store.close();
    }
    const rowFolder = await damaged(async (db) => {
      const [partitionKey] = await rowsWithTag(db, L.TAG_PARTITION);
      const row = L.decodePartitionRow((await db.get(partitionKey!))!);
      await db.put(partitionKey!, L.encodePartitionRow({ ...row, head: row.tail + 1 }));
    });
    await expect(open(rowFolder)).rejects.toThrow(/corrupt store: a partition row with headRun 0, head 4, tail 3/);
  });
});
