// Runs scenarios over systems so that the systems compared in one row group share the
// machine's state. Each scenario is measured in `rounds` slices, and the slices of all
// systems are interleaved (A B C, A B C, ...): a burst of load from elsewhere, or a
// LevelDB compaction, then falls on every system's figure instead of one system's.
// A failing scenario becomes a row with its error; the run goes on.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { ResultRecord } from "./report.ts";
import { shapeLabel } from "./report.ts";
import { combine, runWithSamples, type RunResult } from "./runner.ts";
import type { Progress } from "./progress.ts";
import { Workload, type ScenarioKind, type Shape, type System } from "./workload.ts";

export interface MatrixOptions {
  readonly systems: readonly System[];
  readonly shapes: readonly Shape[];
  /** The scenarios of a shape, in order: a get scenario drains what its put left. */
  readonly scenarios: (shape: Shape) => readonly ScenarioKind[];
  /** Measured time per scenario and system, over all rounds. */
  readonly durationMs: number;
  /** Slices per scenario and system, interleaved across systems; default 1. */
  readonly rounds?: number;
  /** Value bytes one put scenario may write. */
  readonly bytesBudget: number;
  readonly onStep?: (label: string) => void;
  readonly onError?: (label: string, message: string) => void;
  /** The longest wait for a quiet machine before a slice; default SETTLE_MS_MAX. */
  readonly settleMsMax?: number;
}

export function matrixSteps(options: Pick<MatrixOptions, "systems" | "shapes" | "scenarios" | "rounds">): number {
  const scenarios = options.shapes.reduce((n, s) => n + options.scenarios(s).length, 0);
  return options.systems.length * scenarios * (options.rounds ?? 1);
}

/**
 * Writes the page cache's dirty pages to disk before a slice. Without it, the tens of MB a
 * system just wrote are flushed by the kernel during the next system's slice, and that
 * system's fsyncs wait behind them: whichever system ran after a heavy writer measured
 * slow (HTTP fsync putMany ran right after embedded buffered putMany, and came out at half
 * its figure when measured alone). Outside the measured time; skipped where `sync` is missing.
 */
function settleDisk(): void {
  try {
    execFileSync("sync", { stdio: "ignore", timeout: 30_000 });
  } catch {
    // No sync binary, or it timed out: measure anyway.
  }
}

/** Busy and total CPU ticks of the whole machine so far, from /proc/stat; undefined off Linux. */
function cpuTicks(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    // idle and iowait are not busy
    return { busy: total - fields[3]! - (fields[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

const SETTLE_WINDOW_MS = 100;
const SETTLE_BUSY_MAX = 0.1;
export const SETTLE_MS_MAX = 3_000;

/**
 * Waits (outside the measured time) until the machine is nearly idle: at most 10% busy over
 * 100 ms, for at most 3 s (or `msMax`). A store keeps compacting for a while after its slice ends, on
 * LevelDB's background threads, in the bench process or a server child; without this
 * wait, that work lands on whichever system runs next.
 */
async function settleCpu(msMax = SETTLE_MS_MAX): Promise<void> {
  const end = Date.now() + msMax;
  let before = cpuTicks();
  while (before !== undefined && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_WINDOW_MS));
    const now = cpuTicks();
    if (now === undefined) return;
    const total = now.total - before.total;
    if (total > 0 && (now.busy - before.busy) / total <= SETTLE_BUSY_MAX) return;
    before = now;
  }
}

export function errorLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 160);
}

/** Starts each system in turn; one that fails to start is skipped with a note, not fatal. */
export async function startSystems(starts: ReadonlyArray<() => Promise<System>>, progress: Progress): Promise<System[]> {
  const systems: System[] = [];
  for (const start of starts) {
    try {
      systems.push(await start());
    } catch (error) {
      progress.note(`skipped a system that did not start: ${errorLine(error)}`);
    }
  }
  return systems;
}

export async function runMatrix(options: MatrixOptions): Promise<ResultRecord[]> {
  const records: ResultRecord[] = [];
  for (const shape of options.shapes) await measureShape(shape, options, records);
  return records;
}

/**
 * runMatrix as the bench programs run it: a byte budget by `--quick`, steps and errors
 * reported to `progress`, and every system closed after, whatever happened.
 */
export async function runMatrixAndClose(
  options: Omit<MatrixOptions, "bytesBudget" | "onStep" | "onError">,
  quick: boolean,
  progress: Progress,
): Promise<ResultRecord[]> {
  try {
    return await runMatrix({
      ...options,
      bytesBudget: (quick ? 32 : 256) * 1024 * 1024,
      onStep: (label) => progress.begin(label),
      onError: (label, message) => progress.note(`${label}: failed: ${message}`),
    });
  } finally {
    for (const system of options.systems) await system.close().catch(() => {});
  }
}

/** One system's state within a shape: its workload (made on first use) and the error that stopped it. */
interface Lane {
  readonly system: System;
  workload: Workload | undefined;
  error: string | undefined;
}

async function measureShape(shape: Shape, options: MatrixOptions, records: ResultRecord[]): Promise<void> {
  const rounds = options.rounds ?? 1;
  const sliceMs = options.durationMs / rounds;
  const lanes: Lane[] = options.systems.map((system) => ({ system, workload: undefined, error: undefined }));
  for (const scenario of options.scenarios(shape)) {
    const parts = new Map<Lane, RunResult[]>();
    const failed = new Map<Lane, string>();
    for (let round = 0; round < rounds; round++) {
      for (const lane of lanes) {
        if (lane.error !== undefined || failed.has(lane)) continue;
        const label = `${lane.system.name} ${scenario} ${shapeLabel(shape)}${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ""}`;
        options.onStep?.(label);
        try {
          lane.workload ??= new Workload(shape, await lane.system.primitives(shape), options.bytesBudget);
          if (round === 0) await lane.workload.prepare(scenario);
          const done = parts.get(lane) ?? [];
          const issued = done.reduce((n, p) => n + p.issued, 0);
          settleDisk();
          await settleCpu(options.settleMsMax);
          const result = await runWithSamples({
            callers: shape.callers,
            itemsPerOp: shape.batch,
            durationMs: sliceMs,
            // Warm up once per scenario; a drain has no steady state to warm up to.
            ...(round > 0 || scenario === "queue-get" ? { warmupMs: 0 } : {}),
            ...(scenario.endsWith("put") ? { maxOps: Math.max(0, lane.workload.putOpsMax - issued) } : {}),
            op: lane.workload.op(scenario),
          });
          parts.set(lane, [...done, result]);
          await lane.workload.release();
        } catch (error) {
          options.onError?.(label, errorLine(error));
          failed.set(lane, errorLine(error));
          // A lane whose workload could not even be made has nothing to run later scenarios on.
          if (lane.workload === undefined) lane.error = errorLine(error);
        }
      }
    }
    for (const lane of lanes) {
      const { system } = lane;
      const base = { system: system.name, family: system.family, durability: system.durability, transport: system.transport, ...shape, scenario };
      const error = failed.get(lane) ?? lane.error;
      const done = parts.get(lane);
      if (error !== undefined || done === undefined) records.push({ ...base, error: error ?? "not run" });
      else records.push({ ...base, ...combine(done) });
    }
  }
  for (const lane of lanes) {
    try {
      await lane.workload?.dispose();
    } catch (error) {
      options.onError?.(`${lane.system.name} cleanup after ${shapeLabel(shape)}`, errorLine(error));
    }
  }
}
