// White-box checks of the engine's storage: what is physically in LevelDB after the
// operations that promise to remove data, that concurrent writers share commits, and that
// a folder of another format version is refused. The conformance suite checks behaviour
// through the public API; these check the layout of engine/layout.ts underneath it.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, it } from "vitest";
import { createStore } from "../../store/index.ts";
import { Batch, type Db } from "../../engine/commit.ts";
import { openEngine, type Engine } from "../../engine/index.ts";
import { VERSION_KEY, dictPrefix, encodeU32, itemsPrefix, prefixEnd, GARBAGE_PREFIX } from "../../engine/layout.ts";
import { InternalError } from "../../proto/errors.ts";
import { ManualClock } from "../support/clock.ts";
import { expectError } from "../conformance/expect-error.ts";

const folders: string[] = [];
const engines: Engine[] = [];

function folder(): string {
  const path = mkdtempSync(join(tmpdir(), "larder-storage-"));
  folders.push(path);
  return path;
}

async function engineAt(path: string, clock = new ManualClock()): Promise<Engine> {
  const engine = await openEngine({ path, clock });
  engines.push(engine);
  return engine;
}

/** The engine's LevelDB handle, for looking at raw keys. */
function dbOf(engine: Engine): Db {
  return (engine as unknown as { core: { db: Db } }).core.db;
}

async function countKeys(db: Db, prefix: Buffer): Promise<number> {
  let n = 0;
  for await (const _ of db.keys({ gte: prefix, lt: prefixEnd(prefix) })) n++;
  return n;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

afterEach(async () => {
  await Promise.allSettled(engines.splice(0).map((e) => e.close()));
  for (const path of folders.splice(0)) rmSync(path, { recursive: true, force: true });
});

describe("engine storage", () => {
  it("64 concurrent puts share a handful of commits (group commit)", async () => {
    const engine = await engineAt(folder());
    const store = createStore(engine, "main");
    const q = await store.queues.fromName("q", { createIfMissing: true });
    const write = Batch.prototype.write;
    let commits = 0;
    Batch.prototype.write = function (this: Batch, sync: boolean) {
      commits++;
      return write.call(this, sync);
    };
    try {
      await Promise.all(Array.from({ length: 64 }, (_, i) => q.put(i)));
    } finally {
      Batch.prototype.write = write;
    }
    expect(await q.len()).toBe(64);
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThanOrEqual(3);
  });

  it("a putMany is one run record; gets delete a run once all its items are taken, and a restart inside a run resumes there", async () => {
    const path = folder();
    const clock = new ManualClock();
    let engine = await engineAt(path, clock);
    let store = createStore(engine, "main");
    let q = await store.queues.fromName("q", { createIfMissing: true });
    await q.putMany([1, 2, 3]);
    await q.put(4);
    const items = Buffer.from([0x21]);
    expect(await countKeys(dbOf(engine), items)).toBe(2);
    expect(await q.getMany(2)).toEqual([1, 2]);
    expect(await countKeys(dbOf(engine), items)).toBe(2);
    await store.close();
    engine = await engineAt(path, clock);
    store = createStore(engine, "main");
    q = await store.queues.fromName("q");
    expect(await q.len()).toBe(2);
    expect(await q.get()).toBe(3);
    // A get with a request id before the restart may name items of that run by reference:
    // the run stays until such records have expired (engine/requests.ts, "references").
    expect(await countKeys(dbOf(engine), items)).toBe(2);
    expect(await q.get()).toBe(4);
    expect(await countKeys(dbOf(engine), items)).toBe(1);
    clock.advance(engine.requestIdRetentionMs! + 1);
    await (engine as unknown as { requests: { prune(): Promise<void> } }).requests.prune();
    expect(await countKeys(dbOf(engine), items)).toBe(0);
  });

  it("a big putMany is split into runs of bounded size", async () => {
    const engine = await engineAt(folder());
    const store = createStore(engine, "main");
    const q = await store.queues.fromName("q", { createIfMissing: true });
    // 3,000 small items: runs of at most 1,024 items; 40 items of 20 KB: runs of at most 64 KiB (3 items).
    await q.putMany(Array.from({ length: 3_000 }, (_, i) => i), { partition: "small" });
    await q.putMany(Array.from({ length: 40 }, (_, i) => new Uint8Array(20_000).fill(i)), { partition: "big" });
    expect(await countKeys(dbOf(engine), Buffer.from([0x21]))).toBe(3 + 14);
    expect(await q.getMany(3_000, { partition: "small" })).toEqual(Array.from({ length: 3_000 }, (_, i) => i));
    const big = await q.getMany(40, { partition: "big" });
    expect(big.map((v) => (v as Uint8Array)[0])).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(await countKeys(dbOf(engine), Buffer.from([0x21]))).toBe(0);
  });

  it("dict clear switches to a new data number and gc deletes the old entries and its marker", async () => {
    const engine = await engineAt(folder());
    const store = createStore(engine, "main");
    const d = await store.dicts.fromName("d", { createIfMissing: true });
    await d.update(Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`k${i}`, i])));
    const db = dbOf(engine);
    const entries = Buffer.from([0x10]);
    expect(await countKeys(db, entries)).toBe(2_000);
    await d.clear();
    await d.put("after", 1);
    await eventually(async () => (await countKeys(db, entries)) === 1, "the cleared entries are deleted");
    await eventually(async () => (await countKeys(db, GARBAGE_PREFIX)) === 0, "the garbage marker is removed");
    expect(await d.get("after")).toBe(1);
  });

  it("an expired partition's items are deleted once anything notices the expiry", async () => {
    const clock = new ManualClock();
    const engine = await engineAt(folder(), clock);
    const store = createStore(engine, "main");
    const q = await store.queues.fromName("q", { createIfMissing: true });
    await q.putMany([1, 2, 3], { partition: "short", partitionTtlMs: 1_000 });
    await q.putMany(Array.from({ length: 300 }, (_, i) => i), { partition: "big", partitionTtlMs: 1_000 });
    await q.put("stays", { partition: "long", partitionTtlMs: 60_000 });
    const db = dbOf(engine);
    // One run record per put: 3 + 300 + 1 items.
    expect(await countKeys(db, Buffer.from([0x21]))).toBe(3);
    clock.advance(1_000);
    expect(await q.len({ total: true })).toBe(1);
    // Small partitions go item by item in a batch, big ones through a gc marker.
    await eventually(async () => (await countKeys(db, Buffer.from([0x21]))) === 1, "expired items are deleted");
    expect(await q.get({ partition: "long" })).toBe("stays");
  });

  // classic-level 3.0.0 leaks the native copy of every zero-length value it is given
  // (`new char[0]`, never deleted): the ttl index once wrote empty values, and a queue
  // server's RSS grew by ~4 MiB per 128k puts.
  it("writes no zero-length values (ttl index entries included), and a batch refuses one", async () => {
    const engine = await engineAt(folder());
    const store = createStore(engine, "main");
    const q = await store.queues.fromName("q", { createIfMissing: true });
    await q.put(1, { partition: "a", partitionTtlMs: 60_000 });
    await q.putMany([2, 3], { partition: "b" });
    const d = await store.dicts.fromName("d", { createIfMissing: true, entryTtlMs: 60_000 });
    await d.put("k", "v");
    await d.update({ x: 1, y: 2 });
    const db = dbOf(engine);
    let values = 0;
    let ttlEntries = 0;
    for await (const [key, value] of db.iterator()) {
      values++;
      if (key[0] === 0x30) ttlEntries++;
      expect(value.length, `value of key ${key.toString("hex")}`).toBeGreaterThan(0);
    }
    expect(ttlEntries).toBe(5); // partitions a and b, entries k, x and y
    expect(values).toBeGreaterThan(10);
    const batch = new Batch(db);
    expect(() => batch.put(Buffer.from([0x7f]), Buffer.alloc(0))).toThrow(InternalError);
    await batch.write(false);
  });

  it("deleting a queue deletes its items and partition rows", async () => {
    const engine = await engineAt(folder());
    const store = createStore(engine, "main");
    const q = await store.queues.fromName("q", { createIfMissing: true });
    for (let p = 0; p < 5; p++) await q.putMany(Array.from({ length: 400 }, (_, i) => i), { partition: `p${p}` });
    const db = dbOf(engine);
    await store.queues.delete("q");
    await eventually(async () => (await countKeys(db, Buffer.from([0x21]))) === 0, "the items are deleted");
    expect(await countKeys(db, Buffer.from([0x20]))).toBe(0);
  });

  it("refuses a folder written in another format version, and leaves it untouched", async () => {
    const path = folder();
    const first = await engineAt(path);
    await first.close();
    const raw = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await raw.put(VERSION_KEY, encodeU32(99));
    await raw.close();
    await expectError(openEngine({ path }), InternalError);
    const again = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: "buffer", valueEncoding: "buffer" });
    expect((await again.get(VERSION_KEY))?.readUInt32BE(0)).toBe(99);
    await again.close();
  });

  it("keeps dict entries under the dict's data number prefix", async () => {
    const engine = await engineAt(folder());
    const store = createStore(engine, "main");
    const d = await store.dicts.fromName("d", { createIfMissing: true });
    await d.put("a", 1);
    let found = 0;
    for (let num = 1; num < 10; num++) found += await countKeys(dbOf(engine), dictPrefix(num));
    expect(found).toBe(1);
    expect(await countKeys(dbOf(engine), itemsPrefix(1))).toBe(0);
  });
});
