// Issue 2's table: the embedded engine's queue put, get, putMany(100), getMany(100) and
// dict put/get, with 1 and 64 callers, fsync and buffered, 100-byte values, beside raw
// classic-level in the same run: single put, chained batch of 1,000, get and getSync.

import { randomBytes } from "node:crypto";
import { formatRate, formatRatio } from "./format.ts";
import { LarderSystem } from "./larder.ts";
import { openRawDb, LevelSystem } from "./level.ts";
import { run, type Measurement } from "./runner.ts";
import type { TargetCheck } from "./targets.ts";
import { Workload, type ScenarioKind, type System } from "./workload.ts";

interface EngineRow {
  readonly system: "larder" | "level";
  readonly operation: string;
  readonly durability: "fsync" | "buffered";
  readonly callers: number;
}

export interface EngineRecord extends EngineRow, Partial<Omit<Measurement, "callers">> {
  readonly error?: string;
  /** Larder rows: items/s over the raw classic-level operation it is compared with. */
  vsLevel?: number;
  vsLevelOperation?: string;
}

export interface EngineSuiteOptions {
  readonly durationMs: number;
  readonly bytesBudget: number;
  readonly durabilities: ReadonlyArray<"fsync" | "buffered">;
  readonly callers: readonly number[];
  readonly onStep?: (label: string) => void;
  readonly onError?: (label: string, error: unknown) => void;
}

const VALUE_BYTES = 100;
const READ_KEYS = 100_000;

interface LarderOp {
  readonly operation: string;
  readonly scenario: ScenarioKind;
  readonly batch: number;
  /** The raw classic-level operation it is compared with. */
  readonly comparator: string | undefined;
}

const LARDER_OPS: readonly LarderOp[] = [
  { operation: "queue put", scenario: "queue-put", batch: 1, comparator: "put" },
  { operation: "queue get", scenario: "queue-get", batch: 1, comparator: undefined },
  { operation: "queue putMany(100)", scenario: "queue-put", batch: 100, comparator: "batch(1000)" },
  { operation: "queue getMany(100)", scenario: "queue-get", batch: 100, comparator: undefined },
  { operation: "dict put", scenario: "dict-put", batch: 1, comparator: "put" },
  { operation: "dict get", scenario: "dict-get", batch: 1, comparator: "get" },
];

export function engineSteps(options: EngineSuiteOptions): number {
  const perDurability = options.callers.length * (LARDER_OPS.length + 3) + 1;
  return options.durabilities.length * perDurability;
}

export async function engineSuite(options: EngineSuiteOptions): Promise<EngineRecord[]> {
  const records: EngineRecord[] = [];
  for (const durability of options.durabilities) {
    await measureLevel(durability, options, records);
    await measureLarder(durability, options, records);
  }
  fillRatios(records);
  return records;
}

async function measure(
  base: EngineRow,
  options: EngineSuiteOptions,
  records: EngineRecord[],
  body: () => Promise<Measurement>,
): Promise<void> {
  const label = `${base.system}-${base.durability} ${base.operation} c${base.callers}`;
  options.onStep?.(label);
  try {
    records.push({ ...base, ...(await body()) });
  } catch (error) {
    options.onError?.(label, error);
    records.push({ ...base, error: String((error as Error)?.message ?? error).split("\n")[0]! });
  }
}

async function measureLarder(durability: "fsync" | "buffered", options: EngineSuiteOptions, records: EngineRecord[]) {
  let system: System;
  try {
    system = await LarderSystem.open(durability, "embedded");
  } catch (error) {
    for (const callers of options.callers) {
      for (const op of LARDER_OPS) records.push({ system: "larder", operation: op.operation, durability, callers, error: `did not open: ${(error as Error).message}` });
    }
    return;
  }
  try {
    for (const callers of options.callers) {
      const workloads = new Map<number, Workload>();
      for (const op of LARDER_OPS) {
        await measure({ system: "larder", operation: op.operation, durability, callers }, options, records, async () => {
          let workload = workloads.get(op.batch);
          if (workload === undefined) {
            workload = new Workload({ valueBytes: VALUE_BYTES, batch: op.batch, callers }, await system.primitives({ valueBytes: VALUE_BYTES, batch: op.batch, callers }), options.bytesBudget);
            workloads.set(op.batch, workload);
          }
          await workload.prepare(op.scenario);
          return run({
            callers,
            itemsPerOp: op.batch,
            durationMs: options.durationMs,
            ...(op.scenario === "queue-get" ? { warmupMs: 0 } : {}),
            ...(op.scenario.endsWith("put") ? { maxOps: workload.putOpsMax } : {}),
            op: workload.op(op.scenario),
          });
        });
      }
      for (const workload of workloads.values()) await workload.dispose();
    }
  } finally {
    await system.close();
  }
}

async function measureLevel(durability: "fsync" | "buffered", options: EngineSuiteOptions, records: EngineRecord[]) {
  const system = await LevelSystem.open(durability);
  try {
    for (const callers of options.callers) {
      for (const [operation, batch] of [["put", 1], ["batch(1000)", 1000]] as const) {
        await measure({ system: "level", operation, durability, callers }, options, records, async () => {
          const shape = { valueBytes: VALUE_BYTES, batch, callers };
          const workload = new Workload(shape, await system.primitives(shape), options.bytesBudget);
          try {
            return await run({ callers, itemsPerOp: batch, durationMs: options.durationMs, maxOps: workload.putOpsMax, op: workload.op("queue-put") });
          } finally {
            await workload.dispose();
          }
        });
      }
    }
  } finally {
    await system.close();
  }
  await measureLevelReads(durability, options, records);
}

/** get and getSync of random keys among READ_KEYS written beforehand (reads do not depend on durability). */
async function measureLevelReads(durability: "fsync" | "buffered", options: EngineSuiteOptions, records: EngineRecord[]) {
  const { db, remove } = await openRawDb(`level-reads-${durability}`);
  try {
    const value = randomBytes(VALUE_BYTES);
    for (let first = 0; first < READ_KEYS; first += 10_000) {
      const batch = db.batch();
      for (let i = first; i < first + 10_000; i++) batch.put(Buffer.from(`k${i}`), value);
      await batch.write();
    }
    const key = () => Buffer.from(`k${Math.floor(Math.random() * READ_KEYS)}`);
    for (const callers of options.callers) {
      await measure({ system: "level", operation: "get", durability, callers }, options, records, () =>
        run({ callers, itemsPerOp: 1, durationMs: options.durationMs, op: async () => void (await db.get(key())) }),
      );
    }
    await measure({ system: "level", operation: "getSync", durability, callers: 1 }, options, records, () =>
      run({ callers: 1, itemsPerOp: 1, durationMs: options.durationMs, op: () => void db.getSync(key()) }),
    );
  } finally {
    await db.close();
    remove();
  }
}

function fillRatios(records: EngineRecord[]): void {
  for (const r of records) {
    if (r.system !== "larder" || r.itemsPerSec === undefined) continue;
    const comparator = LARDER_OPS.find((op) => op.operation === r.operation)?.comparator;
    if (comparator === undefined) continue;
    const other = records.find((o) => o.system === "level" && o.operation === comparator && o.durability === r.durability && o.callers === r.callers);
    if (other?.itemsPerSec) {
      r.vsLevel = r.itemsPerSec / other.itemsPerSec;
      r.vsLevelOperation = comparator;
    }
  }
}

/**
 * Issue 2: 64 fsync put callers reach 30% of the raw chained-batch entries/s. The reference
 * is one writer of sync batches of 1,000 (64 such writers are in the table, not the target).
 */
export function engineTargets(records: readonly EngineRecord[]): TargetCheck[] {
  const larder = records.find((r) => r.system === "larder" && r.operation === "queue put" && r.durability === "fsync" && r.callers === 64);
  const raw = records.find((r) => r.system === "level" && r.operation === "batch(1000)" && r.durability === "fsync" && r.callers === 1);
  return [rawBatchTarget(larder?.itemsPerSec, raw?.itemsPerSec)];
}

export function rawBatchTarget(larderPerSec: number | undefined, rawBatchPerSec: number | undefined): TargetCheck {
  const ratio = larderPerSec !== undefined && rawBatchPerSec ? larderPerSec / rawBatchPerSec : undefined;
  return {
    target: "fsync queue put, 64 callers, vs raw chained batch(1000) sync, 1 writer",
    measured: ratio === undefined ? "-" : `${formatRate(larderPerSec!)}/s = ${formatRatio(ratio, 3)}`,
    threshold: `>= 0.30x of ${rawBatchPerSec ? formatRate(rawBatchPerSec) + "/s" : "-"}`,
    pass: ratio === undefined ? undefined : ratio >= 0.3,
  };
}
