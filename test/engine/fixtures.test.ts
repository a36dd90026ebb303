// The committed stores of test/fixtures/ (one per format version, written by that
// version's generator) open with this release and hold exactly what their generator wrote
// (test/fixtures/fixture-data.ts). Each is copied first: opening a store writes to it.

import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ClassicLevel } from "classic-level";
import { afterAll, describe, expect, it } from "vitest";
import { open } from "../../index.ts";
import { FORMAT_VERSION, VERSION_KEY } from "../../engine/layout.ts";
import type { Store } from "../../proto/api.ts";
import {
  FIXTURE_NOW_MS,
  OTHER_ENV_ENTRIES,
  PLAIN_ENTRIES,
  QUEUE_DEFAULT_LEFT,
  QUEUE_P_ITEMS,
  TTL_DICT_ENTRY_TTL_MS,
  TTL_ENTRIES,
} from "../fixtures/fixture-data.ts";

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function copyOf(version: number): string {
  const folder = mkdtempSync(join(tmpdir(), `larder-format-${version}-`));
  folders.push(folder);
  cpSync(fileURLToPath(new URL(`../fixtures/format-${version}/`, import.meta.url)), folder, { recursive: true });
  return folder;
}

async function storedVersion(folder: string): Promise<number> {
  const db = new ClassicLevel<Buffer, Buffer>(folder, { keyEncoding: "buffer", valueEncoding: "buffer" });
  await db.open();
  try {
    return (await db.get(VERSION_KEY))!.readUInt32BE(0);
  } finally {
    await db.close();
  }
}

async function entriesOf(store: Store, name: string, environment?: string): Promise<Array<[unknown, unknown]>> {
  const dict = await store.dicts.fromName(name, environment === undefined ? {} : { environment });
  const out: Array<[unknown, unknown]> = [];
  for await (const entry of dict.items()) out.push(entry);
  return out;
}

/** A dict's entries compared as a set: keys() order is the key codec's, checked elsewhere. */
function sortedByKey(entries: ReadonlyArray<readonly [unknown, unknown]>): Array<[string, unknown]> {
  const label = (key: unknown) => (key instanceof Uint8Array ? `bytes:${Buffer.from(key).toString("hex")}` : `${typeof key}:${JSON.stringify(key, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`);
  return entries.map(([k, v]) => [label(k), v] as [string, unknown]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe("the fixture store of format version 2", () => {
  it("is format 2 on disk, and this release (format " + FORMAT_VERSION + ") opens it with everything in it", async () => {
    const folder = copyOf(2);
    expect(await storedVersion(folder)).toBe(2);
    const store = await open({ path: folder, clock: { now: () => FIXTURE_NOW_MS + 1_000 } });
    try {
      expect(sortedByKey(await entriesOf(store, "plain"))).toEqual(sortedByKey(PLAIN_ENTRIES));
      expect(sortedByKey(await entriesOf(store, "ttl"))).toEqual(sortedByKey(TTL_ENTRIES));
      expect(await entriesOf(store, "other", "second")).toEqual(OTHER_ENV_ENTRIES);
      expect(await entriesOf(store, "cleared")).toEqual([]);
      const names = (await store.dicts.list()).map((info) => info.name).sort();
      expect(names).toEqual(["cleared", "plain", "ttl"]);
      const q = await store.queues.fromName("q");
      expect(await q.len({ total: true })).toBe(QUEUE_DEFAULT_LEFT.length + QUEUE_P_ITEMS.length);
      expect(await q.len({ partition: "gone" })).toBe(0);
      expect(await q.getMany(10, { timeoutMs: 0 })).toEqual(QUEUE_DEFAULT_LEFT);
      expect(await q.getMany(10, { partition: "p", timeoutMs: 0 })).toEqual(QUEUE_P_ITEMS);
      // And the store takes new writes.
      const plain = await store.dicts.fromName("plain");
      await plain.put("new", 1);
      expect(await plain.get("new")).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("keeps the deadlines its ttl entries were written with", async () => {
    const store = await open({ path: copyOf(2), clock: { now: () => FIXTURE_NOW_MS + TTL_DICT_ENTRY_TTL_MS + 1 } });
    try {
      expect(await entriesOf(store, "ttl")).toEqual([]);
      expect(sortedByKey(await entriesOf(store, "plain"))).toEqual(sortedByKey(PLAIN_ENTRIES));
    } finally {
      await store.close();
    }
  });
});
