// Reservations on PostgreSQL across processes (postgres/leases.ts; docs/postgres.md,
// "Reservations"): exactly one holder per item among reservers in two processes, a lease
// end waking a getter in another store with its poll switched off, a release waking one
// through NOTIFY, and the elected sweeper making the dead-letter moves of leases that ended
// while nobody called, and dropping larder_moved rows of items gone since.

import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Reservation, Store } from "../../proto/api.ts";
import { open } from "../../index.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";
import { finished, startWorker } from "../support/workers.ts";

const WORKER = fileURLToPath(new URL("../support/postgres-worker.ts", import.meta.url));
const missing = postgresMissing();
if (missing) console.warn(`skipping the PostgreSQL reservation tests: ${missing}`);

/** Stores whose poll is off: only NOTIFY or a lease-end timer can wake their waits. */
const NO_POLL = { pollIntervalMs: 3_600_000 } as Record<string, unknown>;

describe.skipIf(missing !== undefined)("PostgreSQL: reservations across processes", () => {
  let cluster: PgCluster;
  let url: string;
  let admin: pg.Client;
  const stores: Store[] = [];

  async function store(options: Record<string, unknown> = {}): Promise<Store> {
    const s = await open({ postgres: url, ...options } as Parameters<typeof open>[0]);
    stores.push(s);
    return s;
  }

  beforeAll(async () => {
    cluster = await startPostgres({ noFsync: true });
    url = await cluster.createDatabase();
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  }, 60_000);
  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await admin?.end();
    await cluster?.stop();
  });

  it("reservers in two processes hold each item once: every item acked exactly once, none twice", { timeout: 120_000 }, async () => {
    const q = await (await store()).queues.fromName<string>("once", { createIfMissing: true });
    const items = Array.from({ length: 600 }, (_, i) => `i${i}`);
    for (let i = 0; i < items.length; i += 100) await q.putMany(items.slice(i, i + 100));
    const startAt = Date.now() + 2_500;
    const workers = [0, 1].map(() => startWorker("reserver", { url, queue: "once", startAt, n: 3, releaseEvery: 7 }, WORKER));
    await Promise.all(workers.map(finished));
    const acked = workers.flatMap((w) => w.lines.filter((l) => l.startsWith("acked ")).map((l) => l.split(" ")[1]!));
    expect(acked.length).toBe(items.length);
    expect([...acked].sort()).toEqual([...items].sort());
    // Both took part, and released items came back to be acked later.
    for (const w of workers) expect(w.lines.some((l) => l.startsWith("acked "))).toBe(true);
    const redelivered = workers.flatMap((w) => w.lines.filter((l) => l.startsWith("acked ") && !l.endsWith(" 1")));
    expect(redelivered.length).toBeGreaterThan(0);
    expect(await q.len()).toBe(0);
  });

  it("a lease that ends wakes a getter waiting in another store, without its poll", { timeout: 60_000 }, async () => {
    const a = await store();
    const b = await store(NO_POLL);
    const qa = await a.queues.fromName<string>("lease-end", { createIfMissing: true });
    const qb = await b.queues.fromName<string>("lease-end");
    await qa.put("x");
    const [r] = await qa.reserve(1, { leaseMs: 800 });
    // b finds the item held, learns when its lease ends, and tries again then (without that,
    // nothing would wake it before its timeout: no transaction marks a lease's end).
    expect(await qb.get({ timeoutMs: 20_000 })).toBe("x");
    expect(Date.now()).toBeGreaterThanOrEqual(r!.leaseEndsAt.getTime());
    // Gone now: the ended reservation's ack resolves.
    await r!.ack();
    expect(await qa.len()).toBe(0);
  });

  it("a release wakes a reserver waiting in another store through NOTIFY", { timeout: 60_000 }, async () => {
    const a = await store();
    const b = await store(NO_POLL);
    const qa = await a.queues.fromName<string>("release", { createIfMissing: true });
    const qb = await b.queues.fromName<string>("release");
    await qa.put("y");
    const [r] = await qa.reserve(1, { leaseMs: 3_600_000 });
    const waiting = qb.reserve(1, { timeoutMs: 20_000 });
    await new Promise((done) => setTimeout(done, 500));
    await r!.release();
    const [again] = await waiting;
    expect(again!.value).toBe("y");
    expect(again!.deliveries).toBe(2);
  });

  // A delayed release or an extend that shortens a lease sets a deadline earlier than the
  // lease-end timer a waiter armed from its last attempt (here an hour away): the round must
  // re-arm waiters in its own process and NOTIFY the partition for those in others.
  const sooner: Array<[string, (r: Reservation<string>) => Promise<unknown>]> = [
    ["a release with a delay", (r) => r.release({ delayMs: 300 })],
    ["an extend that shortens a lease", (r) => r.extend(300)],
  ];
  for (const [what, shorten] of sooner) {
    for (const where of ["another store", "the same store"]) {
      it(`${what} wakes a getter waiting in ${where}, without its poll`, { timeout: 60_000 }, async () => {
        const a = await store(NO_POLL);
        const b = where === "the same store" ? a : await store(NO_POLL);
        const name = `sooner-${what.length}-${where.length}`;
        const qa = await a.queues.fromName<string>(name, { createIfMissing: true });
        const qb = await b.queues.fromName<string>(name);
        await qa.put("z");
        const [r] = await qa.reserve(1, { leaseMs: 3_600_000 });
        const waiting = qb.get({ timeoutMs: 10_000 }).catch((e: { code?: string }) => e.code);
        await new Promise((done) => setTimeout(done, 500));
        await shorten(r!);
        expect(await waiting).toBe("z");
      });
    }
  }

  it("the sweeper moves an item whose last lease ended while nobody called, and forgets its old place once it is gone", { timeout: 60_000 }, async () => {
    const a = await store();
    const q = await a.queues.fromName<string>("sweep", { createIfMissing: true });
    const id = q.id;
    await q.put("poison");
    const [r] = await q.reserve(1, { leaseMs: 200, maxDeliveries: 1, deadLetterPartition: "dead" });
    // No call on the queue from here: only the sweeper (one pass a second) can move it.
    const moved = async (): Promise<boolean> => {
      const { rows } = await admin.query("SELECT tail FROM larder_partitions WHERE queue_id = $1 AND pkey = $2", [id, Buffer.from("dead")]);
      return rows[0]?.tail === "1" || rows[0]?.tail === 1;
    };
    const until = Date.now() + 20_000;
    while (!(await moved()) && Date.now() < until) await new Promise((done) => setTimeout(done, 200));
    expect(await moved()).toBe(true);
    expect((await admin.query("SELECT count(*)::int AS n FROM larder_reservations WHERE queue_id = $1", [id])).rows[0].n).toBe(0);
    expect((await admin.query("SELECT count(*)::int AS n FROM larder_moved WHERE queue_id = $1", [id])).rows[0].n).toBe(1);
    // Still there, dead-lettered: the old reservation's ack is refused.
    await expect(r!.ack()).rejects.toMatchObject({ code: "LEASE_EXPIRED" });
    expect(await q.get({ partition: "dead", timeoutMs: 0 })).toBe("poison");
    await r!.ack();
    const gone = Date.now() + 20_000;
    const left = async (): Promise<number> => (await admin.query("SELECT count(*)::int AS n FROM larder_moved WHERE queue_id = $1", [id])).rows[0].n;
    while ((await left()) > 0 && Date.now() < gone) await new Promise((done) => setTimeout(done, 200));
    expect(await left()).toBe(0);
  });
});
