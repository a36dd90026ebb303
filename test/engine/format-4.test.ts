// A data folder of format version 4, committed under test/fixtures/format-4 with the rows
// format 4 added (test/fixtures/format-4-contents.ts), opens with the current release and
// answers retries from its records: the get's retry returns the items its record names by
// reference (their run was kept past head for it), the put's and the dict put's retries
// change nothing, and once the retention has passed the pruner drops the records and the
// run kept for them. The typed store reads the same contents.

import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, it } from "vitest";
import { openEngine, type Engine } from "../../engine/index.ts";
import { FORMAT_VERSION, TAG_ITEM, TAG_REQUEST, TAG_REQUEST_AGE, VERSION_KEY } from "../../engine/layout.ts";
import { open } from "../../index.ts";
import { encodeKey } from "../../proto/keys.ts";
import { decodeValue, encodeValue } from "../../proto/values.ts";
import { ManualClock } from "../support/clock.ts";
import { DICT_ID, DICT_KEY, DICT_VALUE, GET_ID, GOT, ITEMS, PUT_ID, RETENTION_MS, T_WRITTEN } from "../fixtures/format-4-contents.ts";

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "format-4");
const cleanups: Array<() => Promise<unknown> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function fixtureCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "larder-v4-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

async function rowsByTag(dir: string): Promise<Map<number, number>> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
  try {
    const tags = new Map<number, number>();
    for await (const key of db.keys()) tags.set(key[0]!, (tags.get(key[0]!) ?? 0) + 1);
    tags.set(-1, (await db.get(VERSION_KEY))!.readUInt32BE(0));
    return tags;
  } finally {
    await db.close();
  }
}

async function openFixture(dir: string, clock: ManualClock): Promise<{ engine: Engine; jobs: string; values: string }> {
  const engine = await openEngine({ path: dir, clock, requestIdRetentionMs: RETENTION_MS, ephemeralAtOpen: "keep" });
  cleanups.push(() => engine.close());
  const jobs = (await engine.getObject("queue", { name: "jobs", mode: "lookup" })).id;
  const values = (await engine.getObject("dict", { name: "values", mode: "lookup" })).id;
  return { engine, jobs, values };
}

const decoded = (values: Uint8Array[]): unknown[] => values.map((v) => decodeValue(v));

describe("a data folder of format version 4", () => {
  it("is version 4 and holds request records, their age rows and the run kept for the get's record", async () => {
    expect(FORMAT_VERSION).toBeGreaterThanOrEqual(4);
    const tags = await rowsByTag(fixtureCopy());
    expect(tags.get(-1)).toBe(4);
    // The records of the put, the get and the dict put.
    expect(tags.get(TAG_REQUEST)).toBe(3);
    // One age row per record; the run's own age row comes only when the run leaves (it has not).
    expect(tags.get(TAG_REQUEST_AGE)).toBeGreaterThanOrEqual(3);
    // The one run of the putMany, still holding the items not got.
    expect(tags.get(TAG_ITEM)).toBe(1);
  });

  it("answers the retries of its calls from their records, and holds the rest of its items", async () => {
    const clock = new ManualClock(T_WRITTEN);
    const { engine, jobs, values } = await openFixture(fixtureCopy(), clock);
    // The get's retry: the same items, in order, read through the record's reference.
    const again = await engine.queueGet(jobs, 100, { timeoutMs: 0 }, { requestId: GET_ID, retry: true });
    expect(decoded(again)).toEqual(ITEMS.slice(0, GOT));
    // The put's retry adds nothing; the dict put's retry answers true and writes nothing new.
    await engine.queuePut(jobs, ITEMS.map((v) => encodeValue(v)), { timeoutMs: 0 }, { requestId: PUT_ID, retry: true });
    expect(await engine.queueLen(jobs, {})).toBe(ITEMS.length - GOT);
    expect(await engine.dictPut(values, encodeKey(DICT_KEY), encodeValue("other"), false, { requestId: DICT_ID, retry: true })).toBe(true);
    expect(decodeValue((await engine.dictGet(values, encodeKey(DICT_KEY)))!)).toEqual(DICT_VALUE);
    // A new get takes the items after those the record names.
    expect(decoded(await engine.queueGet(jobs, 100, { timeoutMs: 0 }, { requestId: "after-open" }))).toEqual(ITEMS.slice(GOT));
  });

  it("prunes its records and the kept run after the retention window", async () => {
    const dir = fixtureCopy();
    const clock = new ManualClock(T_WRITTEN);
    const { engine, jobs } = await openFixture(dir, clock);
    // Take the rest: the run leaves, but stays on disk for the records that name it.
    expect(await engine.queueGet(jobs, 100, { timeoutMs: 0 })).toHaveLength(ITEMS.length - GOT);
    clock.advance(RETENTION_MS + 10_000);
    await (engine as unknown as { requests: { prune(): Promise<void> } }).requests.prune();
    // The get's record is gone: its retry now runs as a new get, on an empty queue.
    expect(await engine.queueGet(jobs, 100, { timeoutMs: 0 }, { requestId: GET_ID, retry: true })).toEqual([]);
    await engine.close();
    const tags = await rowsByTag(dir);
    // Every record pruned (the last get took nothing: it changed nothing and recorded nothing).
    expect(tags.get(TAG_REQUEST) ?? 0).toBe(0);
    expect(tags.get(TAG_ITEM) ?? 0).toBe(0);
  });

  it("reads the same through the typed store", async () => {
    const store = await open({ path: fixtureCopy(), clock: new ManualClock(T_WRITTEN) });
    cleanups.push(() => store.close());
    expect(await (await store.dicts.fromName("values")).get(DICT_KEY)).toEqual(DICT_VALUE);
    const jobs = await store.queues.fromName<string>("jobs");
    expect(await jobs.len()).toBe(ITEMS.length - GOT);
    expect(await jobs.getMany(100, { timeoutMs: 0 })).toEqual(ITEMS.slice(GOT));
  });
});
