// Model-based property test: fast-check generates random sequences of queue and dict
// commands, mixed with store restarts (close and reopen of the same folder) and clock
// jumps, runs each on the real embedded store and on the model in test/model/model.ts, and
// compares every answer: values and their order (FIFO, exactly once), counts, and the
// error code of every limit. On failure fast-check prints the seed and the shrunk command
// list; rerun one with FC_SEED=<seed> (and FC_PATH=<path>).

import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Dict, Queue, Reservation, Store } from "../../proto/api.ts";
import { LarderError, LeaseExpiredError } from "../../proto/errors.ts";
import { open } from "../../index.ts";
import { ManualClock } from "../support/clock.ts";
import { DICT_TTL_MS, MODEL_LIMITS, Model, type ModelReservation, type Outcome } from "../model/model.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";
import pg from "pg";

interface Real {
  store: Store;
  q: Queue<unknown>;
  d: Dict<string, unknown>;
  clock: ManualClock;
  path: string;
  memory: boolean;
  /** a PostgreSQL connection string: the store is there instead of `path` */
  postgres?: string;
  /** Reservations handed out since the last restart (a restart closes their handle). */
  handed: Reservation<unknown>[];
}

async function connectReal(real: Omit<Real, "store" | "q" | "d" | "handed">): Promise<Real> {
  const options = { limits: MODEL_LIMITS, clock: real.clock, durability: "buffered" as const };
  const store = await open(
    real.postgres !== undefined ? { ...options, postgres: real.postgres } : real.memory ? { ...options, memory: true } : { ...options, path: real.path },
  );
  const q = await store.queues.fromName("model", { createIfMissing: true });
  const d = await store.dicts.fromName<string, unknown>("model", { createIfMissing: true, entryTtlMs: DICT_TTL_MS });
  return { ...real, store, q, d, handed: [] };
}

async function outcome<T>(action: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await action() };
  } catch (err) {
    if (err instanceof LarderError) return { error: err.code };
    throw err;
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;

function at(partition: string | undefined): { partition?: string } {
  return partition === undefined ? {} : { partition };
}

function command(name: string, run: (model: Model, real: Real) => Promise<void>): Cmd {
  return { check: () => true, run, toString: () => name };
}

const partitionArb = fc.constantFrom<string | undefined>(undefined, "a", "b", "c");
const valueArb = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 12 }),
  fc.string({ minLength: 30, maxLength: 45 }),
  fc.constantFrom(null, true, -0, NaN, 2n ** 70n),
  fc.array(fc.integer(), { maxLength: 3 }),
);
const keyArb = fc.constantFrom("k1", "k2", "k3", "k4", "a-key-too-long-to-fit");
const ttlArb = fc.constantFrom<number | undefined>(undefined, 1_000, 2_500, Infinity);

const commands: Array<fc.Arbitrary<Cmd>> = [
  fc.tuple(partitionArb, fc.array(valueArb, { minLength: 1, maxLength: 7 }), ttlArb).map(([p, values, ttl]) =>
    command(`putMany(${JSON.stringify(values, bigintJson)}, ${p}, ttl ${ttl})`, async (m, r) => {
      const options = { ...at(p), timeoutMs: 0, ...(ttl === undefined ? {} : { partitionTtlMs: ttl }) };
      const real = await outcome(() => (values.length === 1 ? r.q.put(values[0], options) : r.q.putMany(values, options)));
      expect(real).toEqual(m.putMany(p, values, ttl));
    }),
  ),
  fc.tuple(partitionArb, fc.integer({ min: 1, max: 4 })).map(([p, n]) =>
    command(`getMany(${n}, ${p})`, async (m, r) => {
      const real = await outcome(() => (n === 1 ? r.q.get({ ...at(p), timeoutMs: 0 }).then((v) => [v]) : r.q.getMany(n, { ...at(p), timeoutMs: 0 })));
      expect(real).toEqual(m.getMany(p, n));
    }),
  ),
  partitionArb.map((p) =>
    command(`len(${p})`, async (m, r) => {
      expect(await r.q.len(at(p))).toBe(m.len(p));
    }),
  ),
  fc.constant(
    command("len(total)", async (m, r) => {
      expect(await r.q.len({ total: true })).toBe(m.lenTotal());
    }),
  ),
  partitionArb.map((p) =>
    command(`iterate(${p})`, async (m, r) => {
      const seen: unknown[] = [];
      for await (const v of r.q.iterate(at(p))) seen.push(v);
      expect(seen).toEqual(m.peek(p));
    }),
  ),
  partitionArb.map((p) =>
    command(`clear(${p})`, async (m, r) => {
      await r.q.clear(at(p));
      m.clear(p);
    }),
  ),
  fc.constant(
    command("clear(all)", async (m, r) => {
      await r.q.clear({ all: true });
      m.clearAll();
    }),
  ),
  fc.tuple(keyArb, valueArb, fc.boolean()).map(([k, v, skip]) =>
    command(`put(${k}, ${JSON.stringify(v, bigintJson)}, skip=${skip})`, async (m, r) => {
      expect(await outcome(() => r.d.put(k, v, { skipIfExists: skip }))).toEqual(m.put(k, v, skip));
    }),
  ),
  fc.array(fc.tuple(keyArb, valueArb), { minLength: 1, maxLength: 4 }).map((entries) =>
    command(`update(${JSON.stringify(entries, bigintJson)})`, async (m, r) => {
      expect(await outcome(() => r.d.update(entries))).toEqual(m.update(entries));
    }),
  ),
  keyArb.map((k) =>
    command(`get(${k})`, async (m, r) => {
      expect(await outcome(() => r.d.get(k))).toEqual(m.get(k));
    }),
  ),
  keyArb.map((k) =>
    command(`contains(${k})`, async (m, r) => {
      expect(await outcome(() => r.d.contains(k))).toEqual(m.contains(k));
    }),
  ),
  keyArb.map((k) =>
    command(`pop(${k})`, async (m, r) => {
      expect(await outcome(() => r.d.pop(k))).toEqual(m.pop(k));
    }),
  ),
  fc.constant(
    command("dict len + items", async (m, r) => {
      expect(await r.d.len()).toBe(m.dictLen());
      const items: Array<[string, unknown]> = [];
      for await (const entry of r.d.items()) items.push(entry as [string, unknown]);
      expect(items).toEqual(m.items());
    }),
  ),
  fc.constant(
    command("dict clear", async (m, r) => {
      await r.d.clear();
      m.dictClear();
    }),
  ),
  // Whole multiples of 5 ms: a read refreshes an entry's ttl at most every ttl/1000 ms.
  fc.constantFrom(5, 500, 1_000, 2_495, 2_500, 3_000, 5_000).map((ms) =>
    command(`clock +${ms}ms`, async (m, r) => {
      r.clock.advance(ms);
      m.now += ms;
    }),
  ),
  fc.constant(
    command("restart", async (m, r) => {
      if (r.memory) return;
      await r.store.close();
      Object.assign(r, await connectReal(r));
      m.handed.length = 0;
    }),
  ),
];

const leaseArb = fc.constantFrom(1_000, 2_500, 6_000);
const termsArb = fc.oneof(
  leaseArb.map((leaseMs) => ({ leaseMs })),
  fc.tuple(leaseArb, fc.constantFrom(1, 2), fc.constantFrom<string | undefined>(undefined, "a", "c")).map(([leaseMs, maxDeliveries, dlq]) => ({
    leaseMs,
    maxDeliveries,
    ...(dlq === undefined ? {} : { deadLetterPartition: dlq }),
  })),
);
/** Picks one of the reservations handed out (an index modulo their number). */
const pickArb = fc.nat({ max: 1_000 });

function pick(m: Model, r: Real, i: number): { model: ModelReservation; real: Reservation<unknown> } | undefined {
  expect(r.handed.length).toBe(m.handed.length);
  if (m.handed.length === 0) return undefined;
  return { model: m.handed[i % m.handed.length]!, real: r.handed[i % r.handed.length]! };
}

/** Reserves from the partitions that puts fill most: two of the four, so that most find items. */
const reservePartitionArb = fc.constantFrom<string | undefined>(undefined, "a");

/** Reservations (spec, "Reliable delivery"), mixed with the commands above, on every backend. */
const reservationCommands: Array<fc.Arbitrary<Cmd>> = [
  // Puts that do not expire, so that reservations outlive a few clock jumps.
  fc.tuple(reservePartitionArb, fc.array(valueArb, { minLength: 1, maxLength: 4 })).map(([p, values]) =>
    command(`putMany(${JSON.stringify(values, bigintJson)}, ${p}, ttl Infinity)`, async (m, r) => {
      const real = await outcome(() => r.q.putMany(values, { ...at(p), timeoutMs: 0, partitionTtlMs: Infinity }));
      expect(real).toEqual(m.putMany(p, values, Infinity));
    }),
  ),
  fc.tuple(reservePartitionArb, fc.integer({ min: 1, max: 3 }), termsArb).map(([p, n, terms]) =>
    command(`reserve(${n}, ${p}, ${JSON.stringify(terms)})`, async (m, r) => {
      const real = await outcome(() => r.q.reserve(n, { ...at(p), timeoutMs: 0, ...terms }));
      const model = m.reserve(p, n, terms);
      expect("ok" in real ? { ok: real.ok.map((x) => ({ value: x.value, deliveries: x.deliveries })) } : real).toEqual(
        "ok" in model ? { ok: model.ok.map((x) => ({ value: x.value, deliveries: x.deliveries })) } : model,
      );
      if ("ok" in real && "ok" in model) {
        r.handed.push(...real.ok);
        m.handed.push(...model.ok.map((x) => x.reservation));
      }
    }),
  ),
  pickArb.map((i) =>
    command(`ack(#${i})`, async (m, r) => {
      const chosen = pick(m, r, i);
      if (!chosen) return;
      const refused = m.ack([chosen.model]);
      expect(await outcome(() => chosen.real.ack())).toEqual(refused.length > 0 ? { error: "LEASE_EXPIRED" } : { ok: undefined });
    }),
  ),
  fc.array(pickArb, { minLength: 1, maxLength: 4 }).map((picks) =>
    command(`ack([${picks.map((i) => `#${i}`).join(", ")}])`, async (m, r) => {
      if (m.handed.length === 0) return;
      const chosen = [...new Set(picks.map((i) => i % m.handed.length))];
      const refused = m.ack(chosen.map((i) => m.handed[i]!));
      const list = chosen.map((i) => r.handed[i]!);
      try {
        await r.q.ack(list);
        expect(refused).toEqual([]);
      } catch (err) {
        if (!(err instanceof LeaseExpiredError)) throw err;
        expect(err.refused.map((x) => list.indexOf(x as Reservation<unknown>))).toEqual(refused);
      }
    }),
  ),
  fc.tuple(pickArb, fc.constantFrom(0, 500, 2_000)).map(([i, delayMs]) =>
    command(`release(#${i}, ${delayMs})`, async (m, r) => {
      const chosen = pick(m, r, i);
      if (!chosen) return;
      expect(await outcome(() => chosen.real.release({ delayMs }))).toEqual(m.release(chosen.model, delayMs));
    }),
  ),
  fc.tuple(pickArb, fc.constantFrom(10, 1_500, 8_000)).map(([i, ms]) =>
    command(`extend(#${i}, ${ms})`, async (m, r) => {
      const chosen = pick(m, r, i);
      if (!chosen) return;
      const model = m.extend(chosen.model, ms);
      const real = await outcome(() => chosen.real.extend(ms).then(() => chosen.real.leaseEndsAt.getTime()));
      expect(real).toEqual(model);
    }),
  ),
];

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? `${value}n` : value;
}

const RUNS = Number(process.env.FC_RUNS ?? 60);
/** Fewer on PostgreSQL: each command is a few transactions, each run a fresh schema. */
const POSTGRES_RUNS = Number(process.env.FC_RUNS ?? 15);
const postgresAbsent = postgresMissing();

describe("model-based: random queue and dict commands against a model", () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  for (const memory of [false, true]) {
    it(`${memory ? "in memory" : "on disk, with restarts"}: every answer matches the model`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands([...commands, ...reservationCommands, ...reservationCommands], { maxCommands: 100, size: "large" }), async (cmds) => {
          const path = mkdtempSync(join(tmpdir(), "larder-model-"));
          dirs.push(path);
          const clock = new ManualClock();
          const real = await connectReal({ clock, path, memory });
          try {
            await fc.asyncModelRun(() => ({ model: new Model(clock.now()), real }), cmds);
          } finally {
            await real.store.close();
            rmSync(path, { recursive: true, force: true });
          }
        }),
        {
          numRuns: RUNS,
          verbose: true,
          ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
        },
      );
    }, 300_000);
  }

  // The same commands on PostgreSQL (open({ postgres })), each run in a fresh schema of one
  // database; "restart" closes the store and opens the schema again.
  it.skipIf(postgresAbsent !== undefined)("on PostgreSQL, with restarts: every answer matches the model", async () => {
    const cluster: PgCluster = await startPostgres({ noFsync: true });
    const database = await cluster.createDatabase();
    const admin = new pg.Client({ connectionString: database });
    await admin.connect();
    let schemas = 0;
    try {
      await fc.assert(
        // Reservation commands weigh more here than on LevelDB: with fewer runs, enough leases
        // must end, come back and be dead-lettered for the run to mean something.
        fc.asyncProperty(fc.commands([...commands, ...Array.from({ length: 8 }, () => reservationCommands).flat()], { maxCommands: 120, size: "max" }), async (cmds) => {
          const schema = `model${++schemas}`;
          await admin.query(`CREATE SCHEMA ${schema}`);
          const postgres = `${database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
          const clock = new ManualClock();
          const real = await connectReal({ clock, path: "", memory: false, postgres });
          try {
            await fc.asyncModelRun(() => ({ model: new Model(clock.now()), real }), cmds);
          } finally {
            await real.store.close();
          }
        }),
        {
          numRuns: POSTGRES_RUNS,
          verbose: true,
          ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
        },
      );
    } finally {
      await admin.end();
      await cluster.stop();
    }
  }, 300_000);
});
