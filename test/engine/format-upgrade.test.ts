// A data folder of format version 2 (values as msgpackr records), committed under
// test/fixtures/format-2, opens with the current release, is upgraded to format 3
// (engine/upgrade.ts) and reads back exactly what was written (contents.ts), also when the
// upgrade is SIGKILLed in the middle, several times over; then to format 4, which only adds
// forms of rows (a folder of format 3 is one written now with its version set back to 3:
// every row format 3 writes is one format 4 writes, docs/format.md).

import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, it } from "vitest";
import {
  FORMAT_VERSION,
  TAG_DICT_ENTRY,
  TAG_DICT_STATS,
  TTL_ENTRY_VALUE,
  VERSION_KEY,
  decodeDictEntry,
  decodeDictStats,
  decodeRun,
  encodeRequestRecord,
  readU64,
  requestAgeKey,
  requestKey,
} from "../../engine/layout.ts";
import { openEngine } from "../../engine/index.ts";
import { packEnvelope } from "../../proto/wire.ts";
import { UPGRADE_KEY, decodeV2Value } from "../../engine/upgrade.ts";
import { open, type Store } from "../../index.ts";
import { Packr } from "msgpackr";
import { DeserializationError, InternalError } from "../../proto/errors.ts";
import { expectError } from "../conformance/expect-error.ts";
import { decodeValue, encodeValue } from "../../proto/values.ts";
import { BIG_ITEMS, FIXTURE_TTL_MS, JOBS, JOBS_TAKEN, KEYED, MANY, VALUES, bigItem, job, manyValue } from "../fixtures/format-2-contents.ts";

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "format-2");
const folders: string[] = [];

afterEach(() => {
  for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
});

/** A fresh copy of the fixture folder (opening it may rewrite it). */
function fixtureCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "larder-v2-"));
  folders.push(dir);
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Everything contents.ts says the fixture holds is there, and nothing else. */
export async function expectFixtureContents(store: Store): Promise<void> {
  const values = await store.dicts.fromName("values");
  expect(await values.len()).toBe(VALUES.length);
  for (const [label, value] of VALUES) expect(await values.get(label), label).toStrictEqual(value);

  const keyed = await store.dicts.fromName("keyed");
  const items = await collect(keyed.items());
  expect(items).toHaveLength(KEYED.length);
  for (const [key, value] of KEYED) expect(await keyed.get(key as never), String(key)).toStrictEqual(value);

  const many = await store.dicts.fromName("many");
  expect(await many.len()).toBe(MANY);
  const manyItems = await collect(many.items());
  expect(manyItems).toStrictEqual(Array.from({ length: MANY }, (_, i) => [i, manyValue(i)]));

  const ttl = await store.dicts.fromName("ttl");
  expect(await collect(ttl.items())).toStrictEqual(
    VALUES.slice(0, 10)
      .map(([label, value]) => [label, value])
      .sort(([a], [b]) => (a! < b! ? -1 : 1)),
  );

  const other = await store.dicts.fromName("values", { environment: "other" });
  expect(await collect(other.items())).toStrictEqual([["only", "in other"]]);
  expect(await (await store.dicts.fromName("cleared")).len()).toBe(0);

  const jobs = await store.queues.fromName("jobs");
  expect(await jobs.len()).toBe(JOBS - JOBS_TAKEN);
  expect(await jobs.len({ total: true })).toBe(JOBS - JOBS_TAKEN + BIG_ITEMS + VALUES.length);
  expect(await collect(jobs.iterate({ itemPollTimeoutMs: 0 }))).toStrictEqual(
    Array.from({ length: JOBS - JOBS_TAKEN }, (_, i) => job(i + JOBS_TAKEN)),
  );
  for (let i = 0; i < BIG_ITEMS; i++) expect(await jobs.get({ partition: "p1", timeoutMs: 0 })).toStrictEqual(bigItem(i));
  expect(await jobs.getMany(VALUES.length, { partition: "values", timeoutMs: 0 })).toStrictEqual(VALUES.map(([, v]) => v));
  expect(await jobs.getMany(JOBS, { timeoutMs: 0 })).toStrictEqual(Array.from({ length: JOBS - JOBS_TAKEN }, (_, i) => job(i + JOBS_TAKEN)));
}

async function withStore(dir: string, check: (store: Store) => Promise<void>): Promise<void> {
  const store = await open(dir);
  try {
    await check(store);
  } finally {
    await store.close();
  }
}

interface Raw {
  version: number;
  upgrading: boolean;
  /** Every stored payload (dict entries and queue items) */
  payloads: Uint8Array[];
  /** dataNum -> [bytes in its dict-stats row, key + payload bytes of its entries on disk] */
  stats: Map<number, [number, number]>;
}

/** What the folder holds, read with LevelDB directly. */
async function raw(dir: string): Promise<Raw> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
  await db.open();
  try {
    const out: Raw = { version: (await db.get(VERSION_KEY))!.readUInt32BE(0), upgrading: (await db.get(UPGRADE_KEY)) !== undefined, payloads: [], stats: new Map() };
    const entryBytes = new Map<number, number>();
    for await (const [key, value] of db.iterator()) {
      if (key[0] === TAG_DICT_STATS) out.stats.set(readU64(key, 1), [decodeDictStats(value).bytes, 0]);
      if (key[0] === TAG_DICT_ENTRY) {
        const { payload } = decodeDictEntry(value);
        out.payloads.push(payload);
        entryBytes.set(readU64(key, 1), (entryBytes.get(readU64(key, 1)) ?? 0) + key.length - 9 + payload.length);
      }
      if (key[0] === 0x21) out.payloads.push(...decodeRun(value));
    }
    for (const [num, bytes] of entryBytes) {
      const row = out.stats.get(num);
      if (row) row[1] = bytes;
    }
    return out;
  } finally {
    await db.close();
  }
}

/** Runs the upgrade in a child, SIGKILLed after `batches` batches are on disk (or when it is done). */
function upgradeAndKill(dir: string, batches: number): Promise<"killed" | "done"> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "..", "support", "upgrade-runner.ts"), dir, "40"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    let seen = 0;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      seen = (stdout.match(/^batch /gm) ?? []).length;
      if (seen >= batches) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve("killed");
      else if (code === 0 && stdout.includes("DONE")) resolve("done");
      else reject(new Error(`upgrade runner exited with ${code}: ${stdout.slice(-300)}`));
    });
  });
}

describe("a data folder of format version 2", () => {
  it("is version 2, with values in msgpackr records (the fixture is what it claims)", async () => {
    const before = await raw(fixtureCopy());
    expect(before.version).toBe(2);
    // {title, n} objects of one shape twice: the second is a record reference, not a map.
    const expected = [{ title: "Home", n: 1 }, { title: "About", n: 2 }];
    const shapes = before.payloads.filter((p) => p[0] === 0x92 && isDeepStrictEqual(decodeV2Value(p), expected));
    expect(shapes.length).toBeGreaterThan(0);
    for (const p of shapes) expect(p[1]).not.toBe(0x82); // not a standard map of two entries
    expect(() => decodeValue(shapes[0]!)).toThrow(DeserializationError);
  });

  it("opens, upgraded to format 3 and then 4, and reads back everything it held, again after a reopen", async () => {
    const dir = fixtureCopy();
    const before = await raw(dir);
    await withStore(dir, async () => {});
    const after = await raw(dir);
    expect(after.version).toBe(FORMAT_VERSION);
    expect(FORMAT_VERSION).toBe(4);
    expect(after.upgrading).toBe(false);
    // Every stored value is now the format-3 encoding of what format 2 held, and nothing else.
    expect(after.payloads).toHaveLength(before.payloads.length);
    const wrong: number[] = [];
    for (let i = 0; i < after.payloads.length; i++) {
      const value = decodeValue(after.payloads[i]!);
      if (!isDeepStrictEqual(value, decodeV2Value(before.payloads[i]!)) || !Buffer.from(after.payloads[i]!).equals(encodeValue(value))) wrong.push(i);
    }
    expect(wrong).toEqual([]);
    // Dicts count their bytes as they are now.
    for (const [num, [counted, onDisk]] of after.stats) expect(counted, `dict data ${num}`).toBe(onDisk);
    expect(before.stats.get([...after.stats.keys()][0]!)).toBeDefined();
    await withStore(dir, expectFixtureContents);
  });

  it("rewrites the values in the records of applied request ids, so that a retry after the upgrade gets format 3", async () => {
    // Seen failing with the records left as format 2 wrote them (requestRecordsInFormat3
    // not called): the retries were answered in format 2's bytes, which do not decode.
    const dir = fixtureCopy();
    const v2 = new Packr({ structuredClone: true, useBigIntExtension: true });
    const popped = { title: "Home", at: new Date(Date.UTC(2026, 0, 2)), tags: new Set(["a"]) };
    const got = [{ title: "Home", n: 1 }, { title: "About", n: 2 }, new Map<unknown, unknown>([[1n, "big"]])];
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await db.open();
    const now = Date.now();
    const records: Array<[string, unknown]> = [
      ["v2-pop-1", v2.pack(popped)],
      ["v2-get-1", got.map((value) => v2.pack(value))],
      ["v2-put-1", undefined],
      ["v2-put-2", true],
    ];
    for (const [id, outcome] of records) {
      await db.put(requestKey(id), encodeRequestRecord(now, packEnvelope({ o: outcome })));
      await db.put(requestAgeKey(now, id), TTL_ENTRY_VALUE);
    }
    await db.close();

    const engine = await openEngine({ path: dir, ephemeralAtOpen: "keep" });
    try {
      const q = (await engine.getObject("queue", { name: "retried", mode: "createIfMissing" })).id;
      const d = (await engine.getObject("dict", { name: "retried", mode: "createIfMissing" })).id;
      const key = new Uint8Array([0x01]);
      const pop = await engine.dictPop(d, key, { requestId: "v2-pop-1", retry: true });
      expect(decodeValue(pop!)).toStrictEqual(popped);
      const values = await engine.queueGet(q, 3, { timeoutMs: 0 }, { requestId: "v2-get-1", retry: true });
      expect(values.map((v) => decodeValue(v))).toStrictEqual(got);
      // Outcomes without values are kept as they were.
      await engine.queuePut(q, [encodeValue("x")], { timeoutMs: 0 }, { requestId: "v2-put-1", retry: true });
      expect(await engine.queueLen(q, {})).toBe(0);
      expect(await engine.dictPut(d, key, encodeValue(1), true, { requestId: "v2-put-2", retry: true })).toBe(true);
      expect(await engine.dictLen(d)).toBe(0);
    } finally {
      await engine.close();
    }
  });

  it("keeps its names, and the deadlines its entries and partitions were written with", async () => {
    const dir = fixtureCopy();
    await withStore(dir, async (store) => {
      expect((await store.dicts.list()).map((info) => info.name).sort()).toEqual(["cleared", "keyed", "many", "ttl", "values"]);
      expect((await store.dicts.list({ environment: "other" })).map((info) => info.name)).toEqual(["values"]);
      expect((await store.queues.list()).map((info) => info.name)).toEqual(["jobs"]);
    });
    // Its TTLs are FIXTURE_TTL_MS (100 years) from when it was written: past that, they are gone.
    const later = await open({ path: dir, clock: { now: () => Date.now() + 2 * FIXTURE_TTL_MS } });
    try {
      expect(await collect((await later.dicts.fromName("ttl")).items())).toEqual([]);
      expect(await collect((await later.queues.fromName("jobs")).iterate({ itemPollTimeoutMs: 0 }))).toEqual([]);
      const values = await later.dicts.fromName("values");
      for (const [label, value] of VALUES) expect(await values.get(label), label).toStrictEqual(value);
    } finally {
      await later.close();
    }
  });

  it("with a value format 3 cannot hold (one that contains itself) is refused untouched, naming the value", async () => {
    const dir = fixtureCopy();
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await db.open();
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    let target: Buffer | undefined;
    for await (const key of db.keys({ gte: Buffer.from([TAG_DICT_ENTRY]), lt: Buffer.from([TAG_DICT_ENTRY + 1]) })) target ??= key;
    const packed = new Packr({ structuredClone: true, useBigIntExtension: true }).pack(cyclic);
    await db.put(target!, Buffer.concat([Buffer.from([0]), packed]));
    await db.close();
    const before = await raw(dir);
    await expectError(open(dir), InternalError);
    await expect(open(dir)).rejects.toThrow(/cannot upgrade the data folder to format 3: the entry of dict data \d+ with key bytes [0-9a-f]+ holds a value format 3 cannot store .*nothing was changed/);
    const after = await raw(dir);
    expect(after.version).toBe(2);
    expect(after.upgrading).toBe(false);
    expect(after.payloads.map((p) => Buffer.from(p).toString("hex"))).toEqual(before.payloads.map((p) => Buffer.from(p).toString("hex")));
  });

  it("loses nothing when the upgrade is SIGKILLed in the middle, three times over", async () => {
    const dir = fixtureCopy();
    for (const batches of [1, 3 + Math.floor(Math.random() * 20), 30 + Math.floor(Math.random() * 40)]) {
      expect(await upgradeAndKill(dir, batches)).toBe("killed");
      const mid = await raw(dir);
      // Killed mid-way: the folder says 3 (a format-2 release refuses it) and the cursor is there.
      expect(mid.version).toBe(3);
      expect(mid.upgrading).toBe(true);
    }
    await withStore(dir, expectFixtureContents);
    const after = await raw(dir);
    expect(after.upgrading).toBe(false);
    for (const [num, [counted, onDisk]] of after.stats) expect(counted, `dict data ${num}`).toBe(onDisk);
  });
});

describe("a data folder of format version 3", () => {
  it("opens at format 4; a get's record of format 3 (the values copied) still answers its retry", async () => {
    const dir = mkdtempSync(join(tmpdir(), "larder-format-3-"));
    folders.push(dir);
    let store = await open(dir);
    const q = await store.queues.fromName("jobs", { createIfMissing: true });
    await q.putMany(["a", "b", "c"]);
    await store.close();
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await db.open();
    await db.put(VERSION_KEY, Buffer.from([0, 0, 0, 3]));
    const now = Date.now();
    await db.put(requestKey("v3-get-1"), encodeRequestRecord(now, packEnvelope({ o: [encodeValue("x"), encodeValue("y")] })));
    await db.put(requestAgeKey(now, "v3-get-1"), TTL_ENTRY_VALUE);
    await db.close();
    expect((await raw(dir)).version).toBe(3);

    const engine = await openEngine({ path: dir, ephemeralAtOpen: "keep" });
    try {
      const id = (await engine.getObject("queue", { name: "jobs", mode: "createIfMissing" })).id;
      const values = await engine.queueGet(id, 5, { timeoutMs: 0 }, { requestId: "v3-get-1", retry: true });
      expect(values.map((v) => decodeValue(v))).toEqual(["x", "y"]);
      expect(await engine.queueLen(id, {})).toBe(3);
    } finally {
      await engine.close();
    }
    expect((await raw(dir)).version).toBe(4);
    store = await open(dir);
    try {
      expect(await (await store.queues.fromName("jobs")).getMany(5)).toEqual(["a", "b", "c"]);
    } finally {
      await store.close();
    }
  });
});
