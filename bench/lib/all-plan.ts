// What `npm run bench` (bench/all.ts) runs, decided before anything starts, and how long
// that should take: printed at the start, and listed step by step with --dry-run (which
// runs nothing; test/bench/all-plan.test.ts checks the selection and the estimate).
//
// By default the main scenarios with every baseline, in at most 5 minutes: 100-byte values;
// single items with 64 callers (the four scenarios: the HTTP targets), putMany/getMany(100)
// with 64 callers (the batch targets), single queue puts and dict gets with one caller (the
// latency floor); two rounds of 800 ms; reserve + ack beside get / getMany (issue 13: single
// items and batches of 100, 64 callers, fsync, embedded and HTTP, lib/reserve-suite.ts);
// wake latency with 100 samples; the scale run at a tenth of its size. `--full` runs the whole matrix (both value sizes, batches 1 and 100,
// 1 and 64 callers, every scenario, the synchronous-standby PostgreSQL system), three
// rounds of 1.5 s, 300 wake samples and the full scale run. `--quick` is a smoke run.

import type { BenchArgs } from "./args.ts";
import { selected } from "./args.ts";
import { RESERVE_BATCHES, RESERVE_SCENARIOS, reserveStepLabel, type ReserveSystemName } from "./reserve-suite.ts";
import { SCALE_FULL, SCALE_QUICK, type ScaleSize } from "./scale-suite.ts";
import { SCENARIO_KINDS, type ScenarioKind, type Shape } from "./workload.ts";

export const MiB = 1 << 20;
/** The raw chained batch of issue 2's target: "at least 30% of the raw chained-batch entries/s". */
export const RAW_BATCH = 1000;

export type Mode = "quick" | "default" | "full";

/** Every system bench/all.ts can start, in the order it starts them. */
export const ALL_SYSTEMS = [
  "larder-fsync",
  "larder-buffered",
  "larder-http-fsync",
  "larder-http-buffered",
  "larder-http-buffered-unbatched",
  "level-fsync",
  "level-buffered",
  "bare-http",
  "larder-postgres",
  "larder-postgres-sync",
  "redis-always",
  "redis-none",
] as const;

/** The systems the reserve suite runs on, if the plan has them. */
export const RESERVE_SYSTEMS: readonly ReserveSystemName[] = ["larder-fsync", "larder-http-fsync", "larder-postgres"];

/** Systems left to --full: a PostgreSQL primary with a synchronous standby takes a minute to set up and runs at the standby's pace. */
const FULL_ONLY_SYSTEMS: ReadonlySet<string> = new Set(["larder-postgres-sync"]);

/** What this machine can run (redis-server on PATH, PostgreSQL binaries). */
export interface Available {
  readonly redis: boolean;
  readonly postgres: boolean;
}

export interface AllPlan {
  readonly mode: Mode;
  /** Systems to start, and the reason each other one is left out. */
  readonly systems: readonly string[];
  readonly left: ReadonlyArray<{ system: string; reason: string }>;
  readonly shapes: readonly Shape[];
  readonly scenarios: (shape: Shape) => readonly ScenarioKind[];
  readonly durationMs: number;
  readonly rounds: number;
  /** Value bytes one put scenario may write. */
  readonly bytesBudget: number;
  /** The longest wait for a quiet machine before a slice (lib/matrix.ts). */
  readonly settleMsMax: number;
  /** level-fsync chained batches of RAW_BATCH, one and 64 writers. */
  readonly rawBatch: boolean;
  readonly wake: { readonly samples: number; readonly systems: readonly string[] } | undefined;
  /** Reserve + ack beside get / getMany (lib/reserve-suite.ts) on these systems, `durationMs` per scenario in `rounds`. */
  readonly reserve: { readonly systems: readonly ReserveSystemName[] } | undefined;
  readonly scale: ScaleSize | undefined;
}

const VALUE_SIZES_FULL = [100, 10 * 1024];
const BATCHES = [1, 100];
const CALLERS = [1, 64];

/** The default run's scenarios by shape: 100-byte values only. */
function mainScenarios(shape: Shape): readonly ScenarioKind[] {
  if (shape.batch === 1 && shape.callers === 64) return SCENARIO_KINDS;
  if (shape.batch === 100 && shape.callers === 64) return ["queue-put", "queue-get"];
  if (shape.batch === 1 && shape.callers === 1) return ["queue-put", "dict-get"];
  return [];
}

const MAIN_SHAPES: readonly Shape[] = [
  { valueBytes: 100, batch: 1, callers: 1 },
  { valueBytes: 100, batch: 1, callers: 64 },
  { valueBytes: 100, batch: 100, callers: 64 },
];

function fullShapes(): Shape[] {
  return VALUE_SIZES_FULL.flatMap((valueBytes) => BATCHES.flatMap((batch) => CALLERS.map((callers) => ({ valueBytes, batch, callers }))));
}

export function modeOf(args: BenchArgs): Mode {
  const full = args.extra.has("full");
  if (full && args.quick) throw new Error("--full and --quick cannot be used together");
  return args.quick ? "quick" : full ? "full" : "default";
}

export function allPlan(args: BenchArgs, available: Available): AllPlan {
  const mode = modeOf(args);
  const skip = new Set((args.extra.get("skip") ?? "").split(",").filter((w) => w !== ""));
  const left: Array<{ system: string; reason: string }> = [];
  const systems: string[] = [];
  for (const system of ALL_SYSTEMS) {
    if (!selected(args, system)) continue;
    if (system.startsWith("redis") && !available.redis) left.push({ system, reason: "redis-server is not on PATH" });
    else if (system.startsWith("larder-postgres") && !available.postgres) left.push({ system, reason: "PostgreSQL is not installed" });
    else if (mode !== "full" && FULL_ONLY_SYSTEMS.has(system)) left.push({ system, reason: "run with --full" });
    else systems.push(system);
  }
  const full = mode === "full";
  const quick = mode === "quick";
  const reserveSystems = RESERVE_SYSTEMS.filter((s) => systems.includes(s));
  const wakeSystems = ["larder-fsync", "larder-http-fsync", "larder-buffered", "larder-http-buffered"];
  if (available.redis) wakeSystems.push("redis-always", "redis-none");
  if (available.postgres && selected(args, "larder-postgres")) wakeSystems.push("larder-postgres", "larder-postgres-notify");
  return {
    mode,
    systems,
    left,
    shapes: full || quick ? fullShapes() : MAIN_SHAPES,
    scenarios: full || quick ? () => SCENARIO_KINDS : mainScenarios,
    durationMs: args.durationMs ?? (quick ? 200 : full ? 1500 : 800),
    rounds: args.rounds ?? (quick ? 1 : full ? 3 : 2),
    bytesBudget: quick ? 64 * MiB : full ? 512 * MiB : 256 * MiB,
    settleMsMax: full ? 3_000 : quick ? 1_000 : 300,
    rawBatch: systems.includes("level-fsync"),
    reserve: skip.has("reserve") || reserveSystems.length === 0 ? undefined : { systems: reserveSystems },
    wake: skip.has("wake") ? undefined : { samples: quick ? 30 : full ? 300 : 100, systems: wakeSystems },
    scale: skip.has("scale") ? undefined : full ? SCALE_FULL : SCALE_QUICK,
  };
}

/** One line per step, in the order the run takes them (the progress lines' labels). */
export function planSteps(plan: AllPlan): string[] {
  const steps: string[] = [];
  for (const shape of plan.shapes) {
    const shapeText = `${shape.valueBytes >= 1024 ? `${shape.valueBytes / 1024}KiB` : `${shape.valueBytes}B`} x${shape.batch} c${shape.callers}`;
    for (const scenario of plan.scenarios(shape)) {
      for (let round = 0; round < plan.rounds; round++) {
        for (const system of plan.systems) steps.push(`${system} ${scenario} ${shapeText}${plan.rounds > 1 ? ` (round ${round + 1}/${plan.rounds})` : ""}`);
      }
    }
  }
  if (plan.rawBatch) for (const callers of CALLERS) steps.push(`level-fsync queue-put 100B x${RAW_BATCH} c${callers}`);
  if (plan.reserve) {
    for (const system of plan.reserve.systems) {
      for (const batch of RESERVE_BATCHES) {
        for (let round = 0; round < plan.rounds; round++) {
          for (const scenario of RESERVE_SCENARIOS) steps.push(reserveStepLabel(system, batch, scenario, round, plan.rounds));
        }
      }
    }
  }
  if (plan.wake) for (const system of plan.wake.systems) steps.push(`wake latency: ${system} (${plan.wake.samples} samples)`);
  if (plan.scale) steps.push(`scale: build ${plan.scale.items} items / ${plan.scale.partitions} partitions / ${plan.scale.keys} keys`, "scale: measure");
  return steps;
}

/**
 * What each part costs beyond its measured time, from runs on the 2-core development VM
 * (bench/results): a slice's warm-up and its settling (a `sync`, then the wait for a quiet
 * machine, which on a busy machine runs to settleMsMax), starting a system, a wake sample.
 */
const SLICE_OVERHEAD_MS = 350;
const SYSTEM_START_MS: Readonly<Record<string, number>> = {
  "larder-http-fsync": 1_500,
  "larder-http-buffered": 1_500,
  "larder-http-buffered-unbatched": 1_500,
  "bare-http": 1_500,
  "larder-postgres": 8_000,
  "larder-postgres-sync": 40_000,
  "redis-always": 1_000,
  "redis-none": 1_000,
};
const SYSTEM_START_OTHER_MS = 300;
/**
 * A reserve-suite slice beyond its measured time: filling the queue it drains (up to 300k
 * items/s of slice, untimed), clearing it, and opening the store (a server for HTTP).
 */
const RESERVE_SLICE_MS = 600;
const RESERVE_SYSTEM_START_MS: Readonly<Record<ReserveSystemName, number>> = { "larder-fsync": 300, "larder-http-fsync": 1_500, "larder-postgres": 8_000 };
/** Measuring Larder's request sizes for bare-http at the start. */
const WIRE_CALIBRATION_MS = 3_000;
/** A wake sample: the settle time (2 ms embedded, 10 ms remote) and the put and get around it. */
const WAKE_SAMPLE_MS = 15;
const WAKE_SYSTEM_MS = 2_000;
/** The scale run's build and measure, per million items (and as many keys). */
const SCALE_MS_PER_MILLION = 60_000;
const SCALE_START_MS = 5_000;

export interface Estimate {
  /** Expected, with a machine that settles quickly between slices. */
  readonly ms: number;
  /** With a busy machine, where every slice waits settleMsMax for it to quiet down. */
  readonly busyMs: number;
  readonly steps: number;
}

export function estimate(plan: AllPlan): Estimate {
  const sliceMs = plan.durationMs / plan.rounds;
  const warmupMs = Math.min(300, plan.durationMs / 10);
  let matrixSlices = 0;
  let scenarios = 0;
  for (const shape of plan.shapes) {
    const n = plan.scenarios(shape).length;
    scenarios += n;
    matrixSlices += n * plan.rounds * plan.systems.length;
  }
  const rawSlices = plan.rawBatch ? CALLERS.length : 0;
  const slices = matrixSlices + rawSlices;
  const warmups = (scenarios * plan.systems.length + rawSlices);
  let fixed = slices * sliceMs + warmups * warmupMs;
  fixed += plan.systems.reduce((ms, s) => ms + (SYSTEM_START_MS[s] ?? SYSTEM_START_OTHER_MS), 0);
  if (plan.systems.includes("bare-http")) fixed += WIRE_CALIBRATION_MS;
  if (plan.reserve) {
    const reserveSlices = plan.reserve.systems.length * RESERVE_BATCHES.length * RESERVE_SCENARIOS.length * plan.rounds;
    fixed += reserveSlices * (sliceMs + RESERVE_SLICE_MS);
    fixed += plan.reserve.systems.reduce((ms, s) => ms + RESERVE_SYSTEM_START_MS[s], 0);
  }
  if (plan.wake) fixed += plan.wake.systems.length * (WAKE_SYSTEM_MS + plan.wake.samples * WAKE_SAMPLE_MS);
  if (plan.scale) fixed += SCALE_START_MS + (SCALE_MS_PER_MILLION * plan.scale.items) / 1_000_000;
  const steps = planSteps(plan).length;
  return {
    ms: fixed + slices * SLICE_OVERHEAD_MS,
    busyMs: fixed + slices * (SLICE_OVERHEAD_MS + plan.settleMsMax),
    steps,
  };
}

export function formatMinutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

/** The line printed before anything starts. */
export function estimateLine(plan: AllPlan): string {
  const e = estimate(plan);
  return (
    `bench (${plan.mode}): ${e.steps} steps, ${plan.systems.length} systems; estimated ${formatMinutes(e.ms)}` +
    ` (up to ${formatMinutes(e.busyMs)} on a busy machine)${plan.mode === "default" ? "; --full runs the whole matrix" : ""}`
  );
}
