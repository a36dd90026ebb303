// Reliable delivery against plain delivery (issue 13's target): reserve + ack of single
// items and of batches of 100 beside get / getMany of the same shapes, 64 callers, fsync,
// embedded, over HTTP and on PostgreSQL (a primary alone, fsync on), in the same run and interleaved round by round so that both
// scenarios share the machine's state. Each timed run drains a queue filled beforehand
// (untimed); a caller stops when the queue is empty, so every item counted was delivered
// (and, for reserve + ack, acked) exactly once.

import type { Queue, Store } from "../../proto/api.ts";
import { hasCode, openEmbedded, openRemote } from "./larder.ts";
import { BENCH_LIMITS } from "./larder-limits.ts";
import { postgresMissing, startPostgres } from "../../test/support/postgres.ts";
import { runWithSamples, type Measurement } from "./runner.ts";
import type { Column, Row } from "./table.ts";
import type { TargetCheck } from "./targets.ts";

export type ReserveScenario = "get" | "reserve+ack";

export interface ReserveRecord {
  readonly system: string;
  readonly batch: number;
  readonly callers: number;
  readonly scenario: ReserveScenario;
  readonly itemsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface ReserveSuiteOptions {
  /** Measured time of one slice (one scenario, one round). */
  readonly durationMs: number;
  readonly rounds: number;
  /** Items put before each timed run, by batch size: about what the scenario drains in durationMs. */
  readonly itemsPerRun: (batch: number) => number;
  readonly onStep?: (label: string) => void;
  /** Default: both. */
  readonly systems?: readonly ReserveSystemName[];
}

export type ReserveSystemName = "larder-fsync" | "larder-http-fsync" | "larder-postgres";

/** Larder on a PostgreSQL primary started for the run (fsync on), as bench/lib/postgres.ts does. */
async function openPostgresStore(): Promise<{ store: Store; close(): Promise<void> }> {
  const missing = postgresMissing();
  if (missing) throw new Error(`larder-postgres: ${missing}`);
  const cluster = await startPostgres({});
  try {
    const url = await cluster.createDatabase("larder_reserve_bench");
    const { open } = await import("../../dist/index.js");
    const store = await open({ postgres: url, limits: BENCH_LIMITS });
    return {
      store,
      close: async () => {
        try {
          await store.close();
        } finally {
          await cluster.stop();
        }
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
export const RESERVE_CALLERS = 64;
export const RESERVE_BATCHES: readonly number[] = [1, 100];
/** In each round, in this order. */
export const RESERVE_SCENARIOS: readonly ReserveScenario[] = ["get", "reserve+ack"];
const CALLERS = RESERVE_CALLERS;
const BATCHES = RESERVE_BATCHES;

/** The progress line of one slice (also bench/all.ts --dry-run's step). */
export function reserveStepLabel(system: string, batch: number, scenario: ReserveScenario, round: number, rounds: number): string {
  return `reserve: ${system} x${batch} c${CALLERS} ${scenario}, round ${round + 1}/${rounds}`;
}
const VALUE_BYTES = 100;
const FILL_BATCH = 1_000;

async function fill(q: Queue<Uint8Array>, items: number): Promise<void> {
  const values = Array.from({ length: FILL_BATCH }, (_, i) => {
    const v = new Uint8Array(VALUE_BYTES);
    v.fill(i % 251);
    return v;
  });
  const puts: Promise<void>[] = [];
  for (let done = 0; done < items; done += FILL_BATCH) puts.push(q.putMany(values.slice(0, Math.min(FILL_BATCH, items - done))));
  await Promise.all(puts);
}

/** One operation of a scenario: the items it moved, 0 when the queue is drained. */
function operation(q: Queue<Uint8Array>, scenario: ReserveScenario, batch: number): () => Promise<number> {
  const empty = (error: unknown): number => {
    if (hasCode(error, "QUEUE_EMPTY")) return 0;
    throw error;
  };
  if (scenario === "get") {
    return batch === 1 ? () => q.get({ timeoutMs: 0 }).then(() => 1, empty) : () => q.getMany(batch, { timeoutMs: 0 }).then((v) => v.length, empty);
  }
  return async () => {
    let jobs;
    try {
      jobs = await q.reserve(batch, { timeoutMs: 0, leaseMs: 60_000 });
    } catch (error) {
      return empty(error);
    }
    if (batch === 1) await jobs[0]!.ack();
    else await q.ack(jobs);
    return jobs.length;
  };
}

async function measure(store: Store, name: string, scenario: ReserveScenario, batch: number, options: ReserveSuiteOptions): Promise<Measurement> {
  const q = await store.queues.fromName<Uint8Array>(name, { createIfMissing: true });
  await q.clear();
  await fill(q, options.itemsPerRun(batch));
  const op = operation(q, scenario, batch);
  const { measurement } = await runWithSamples({ callers: CALLERS, itemsPerOp: batch, durationMs: options.durationMs, warmupMs: 0, op });
  await q.clear();
  return measurement;
}

/**
 * Items to put before a timed run of `durationMs`: enough that the fastest scenario seen
 * (getMany(100) embedded, ~250k items/s on a quiet 2-core machine) does not drain it.
 */
export function reserveItemsPerRun(durationMs: number): (batch: number) => number {
  return (batch) => Math.ceil(((batch === 1 ? 40_000 : 300_000) * durationMs) / 1000);
}

export async function reserveSuite(options: ReserveSuiteOptions): Promise<ReserveRecord[]> {
  const out: ReserveRecord[] = [];
  for (const system of options.systems ?? (["larder-fsync", "larder-http-fsync"] as const)) {
    const opened =
      system === "larder-fsync" ? await openEmbedded("fsync", "larder-reserve") : system === "larder-http-fsync" ? await openRemote("fsync", "larder-http-reserve") : await openPostgresStore();
    try {
      for (const batch of BATCHES) {
        const sums = new Map<ReserveScenario, { items: number; ms: number; p50: number[]; p99: number[] }>();
        for (let round = 0; round < options.rounds; round++) {
          for (const scenario of RESERVE_SCENARIOS) {
            options.onStep?.(reserveStepLabel(system, batch, scenario, round, options.rounds));
            const m = await measure(opened.store, `reserve-bench-${batch}`, scenario, batch, options);
            const s = sums.get(scenario) ?? { items: 0, ms: 0, p50: [], p99: [] };
            s.items += m.items;
            s.ms += m.elapsedMs;
            s.p50.push(m.p50Ms);
            s.p99.push(m.p99Ms);
            sums.set(scenario, s);
          }
        }
        for (const [scenario, s] of sums) {
          out.push({
            system,
            batch,
            callers: CALLERS,
            scenario,
            itemsPerSec: s.ms > 0 ? (s.items * 1000) / s.ms : 0,
            p50Ms: median(s.p50),
            p99Ms: median(s.p99),
          });
        }
      }
    } finally {
      await opened.close();
    }
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export const RESERVE_COLUMNS: readonly Column[] = [
  { title: "system", align: "left" },
  { title: "shape", align: "left" },
  { title: "get items/s" },
  { title: "reserve+ack items/s" },
  { title: "ratio" },
  { title: "get p50 ms" },
  { title: "reserve+ack p50 ms" },
];

function find(records: readonly ReserveRecord[], system: string, batch: number, scenario: ReserveScenario): ReserveRecord | undefined {
  return records.find((r) => r.system === system && r.batch === batch && r.scenario === scenario);
}

export function reserveRows(records: readonly ReserveRecord[]): Row[] {
  const rows: Row[] = [];
  for (const system of [...new Set(records.map((r) => r.system))]) {
    for (const batch of BATCHES) {
      const get = find(records, system, batch, "get");
      const res = find(records, system, batch, "reserve+ack");
      if (!get || !res) continue;
      rows.push([
        system,
        `x${batch} c${CALLERS}`,
        Math.round(get.itemsPerSec).toLocaleString("en-US"),
        Math.round(res.itemsPerSec).toLocaleString("en-US"),
        (res.itemsPerSec / get.itemsPerSec).toFixed(2),
        get.p50Ms.toFixed(2),
        res.p50Ms.toFixed(2),
      ]);
    }
  }
  return rows;
}

/** Issue 13: reserve(100)+ack(100) at >= 0.5 of getMany(100)'s items/s embedded, >= 0.4 over HTTP. */
export function reserveTargets(records: readonly ReserveRecord[]): TargetCheck[] {
  return (
    [
      ["larder-fsync", 0.5],
      ["larder-http-fsync", 0.4],
    ] as const
  ).map(([system, threshold]) => {
    const get = find(records, system, 100, "get");
    const res = find(records, system, 100, "reserve+ack");
    const ratio = get && res && get.itemsPerSec > 0 ? res.itemsPerSec / get.itemsPerSec : undefined;
    return {
      target: `issue 13: ${system} reserve(100)+ack(100) vs getMany(100), c64`,
      measured: ratio === undefined ? "n/a" : `${ratio.toFixed(2)}x`,
      threshold: `>= ${threshold}x`,
      pass: ratio === undefined ? undefined : ratio >= threshold,
    };
  });
}
