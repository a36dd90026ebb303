// A data folder of format version 3, committed under test/fixtures/format-3 with
// reservations in it (test/fixtures/format-3-contents.ts), opens with the current release
// (format 4 reads every format-3 row as it was) and reads back what was written: values,
// items in place with the reserved ones, leases and a release delay that end at their
// deadlines with their delivery counts, and a dead-lettered item with its count.

import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, it } from "vitest";
import { TAG_HOLD, TAG_MOVED, TAG_PARTITION, VERSION_KEY } from "../../engine/layout.ts";
import { open } from "../../index.ts";
import type { Clock, Queue, Store } from "../../proto/api.ts";
import { DEAD, DELAY_MS, HELD, IN_PLACE, JOBS, LEASE_MS, T0, T_WRITTEN, VALUES, job } from "../fixtures/format-3-contents.ts";

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "format-3");
const folders: string[] = [];
const stores: Store[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
});

class SettableClock implements Clock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
}

function fixtureCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "larder-v3-"));
  folders.push(dir);
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

async function openFixture(): Promise<{ clock: SettableClock; store: Store; jobs: Queue<{ n: number; name: string }> }> {
  const clock = new SettableClock(T_WRITTEN);
  const store = await open({ path: fixtureCopy(), clock });
  stores.push(store);
  return { clock, store, jobs: await store.queues.fromName("jobs") };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("a data folder of format version 3, with reservations", () => {
  it("is version 3 and holds partition, hold and moved rows (the fixture is what it claims)", async () => {
    const db = new ClassicLevel<Buffer, Buffer>(fixtureCopy(), { keyEncoding: "buffer", valueEncoding: "buffer" });
    try {
      expect((await db.get(VERSION_KEY))?.readUInt32BE(0)).toBe(3);
      const tags = new Map<number, number[]>();
      for await (const [key, value] of db.iterator()) tags.set(key[0]!, [...(tags.get(key[0]!) ?? []), value.length]);
      // Two partitions, the default (64 bytes: with held and reserved counts) and "dead" (48: nothing held).
      expect(tags.get(TAG_PARTITION)).toEqual([64, 48]);
      // Groups: 0-2 under a lease, 4 under a delay, 6 under a lease (3 moved; 5 acked).
      expect(tags.get(TAG_HOLD)).toHaveLength(3);
      expect(tags.get(TAG_MOVED)).toHaveLength(1);
    } finally {
      await db.close();
    }
  });

  it("reads back its values, and its items in place with the reserved ones", async () => {
    const { store, jobs } = await openFixture();
    const values = await store.dicts.fromName("values");
    expect(await values.len()).toBe(VALUES.length);
    for (const [label, value] of VALUES) expect(await values.get(label), label).toStrictEqual(value);
    expect((await collect(jobs.iterate())).map((j) => j.n)).toEqual(IN_PLACE);
    expect(await jobs.len()).toBe(IN_PLACE.length);
    const parts = await collect(jobs.partitions());
    expect(parts.map((p) => [p.partition, p.len, p.reserved])).toEqual([
      [undefined, IN_PLACE.length, HELD.length],
      ["dead", 1, 0],
    ]);
    // Only the items never reserved are visible; the held ones stay in their places.
    expect(await jobs.getMany(100, { timeoutMs: 0 })).toEqual(IN_PLACE.filter((n) => !HELD.includes(n)).map(job));
  });

  it("ends its leases and its delay at their deadlines, with their delivery counts; the dead letter keeps its count", async () => {
    const { clock, jobs } = await openFixture();
    const [dead] = await jobs.reserve(5, { partition: "dead", timeoutMs: 0, leaseMs: 10 * DELAY_MS });
    expect([dead!.value, dead!.deliveries]).toEqual([job(DEAD.job), DEAD.deliveries + 1]);
    await jobs.getMany(100, { timeoutMs: 0 });
    clock.ms = T0 + LEASE_MS - 1;
    await expect(jobs.reserve(10, { timeoutMs: 0 })).rejects.toMatchObject({ code: "QUEUE_EMPTY" });
    clock.ms = T0 + LEASE_MS;
    const leased = await jobs.reserve(10, { timeoutMs: 0, leaseMs: 10 * DELAY_MS });
    expect(leased.map((r) => [r.value.n, r.deliveries])).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
      [6, 2],
    ]);
    clock.ms = T0 + DELAY_MS - 1;
    await expect(jobs.reserve(10, { timeoutMs: 0 })).rejects.toMatchObject({ code: "QUEUE_EMPTY" });
    clock.ms = T0 + DELAY_MS;
    const delayed = await jobs.reserve(10, { timeoutMs: 0 });
    expect(delayed.map((r) => [r.value.n, r.deliveries])).toEqual([[4, 2]]);
    await jobs.ack([...leased, ...delayed, dead!]);
    expect(await jobs.len({ total: true })).toBe(0);
    // Of the JOBS put, job 5 was acked before the fixture was closed and job 3 is the dead letter.
    expect(IN_PLACE.length + 2).toBe(JOBS);
  });
});
