// A data folder of format version 2 (values as msgpackr records), committed under
// test/fixtures/format-v2/store, opens with the current release and reads back exactly what
// was written (contents.ts), through the embedded store.

import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { open, type Store } from "../index.ts";
import { BIG_ITEMS, JOBS, JOBS_TAKEN, KEYED, MANY, VALUES, bigItem, job, manyValue } from "./fixtures/format-v2/contents.ts";

const FIXTURE = join(import.meta.dirname, "fixtures", "format-v2", "store");
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

describe("a data folder of format version 2", () => {
  it("opens and reads back everything it held", async () => {
    const dir = fixtureCopy();
    const store = await open(dir);
    try {
      await expectFixtureContents(store);
    } finally {
      await store.close();
    }
  });
});
