// Runs scenarios over systems, shape by shape and system by system, so that the systems
// compared in one table measure each scenario minutes apart at most, on the same machine
// state. A failing scenario becomes a row with its error; the run goes on.

import type { ResultRecord } from "./report.ts";
import { shapeLabel } from "./report.ts";
import { run } from "./runner.ts";
import { Workload, type ScenarioKind, type Shape, type System } from "./workload.ts";

export interface MatrixOptions {
  readonly systems: readonly System[];
  readonly shapes: readonly Shape[];
  /** The scenarios of a shape, in order: a get scenario drains what its put left. */
  readonly scenarios: (shape: Shape) => readonly ScenarioKind[];
  readonly durationMs: number;
  /** Value bytes one put scenario may write. */
  readonly bytesBudget: number;
  readonly onStep?: (label: string) => void;
  readonly onError?: (label: string, message: string) => void;
}

export function matrixSteps(options: Pick<MatrixOptions, "systems" | "shapes" | "scenarios">): number {
  return options.systems.length * options.shapes.reduce((n, s) => n + options.scenarios(s).length, 0);
}

export function errorLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 160);
}

export async function runMatrix(options: MatrixOptions): Promise<ResultRecord[]> {
  const records: ResultRecord[] = [];
  for (const shape of options.shapes) {
    for (const system of options.systems) await measureShape(system, shape, options, records);
  }
  return records;
}

async function measureShape(system: System, shape: Shape, options: MatrixOptions, records: ResultRecord[]): Promise<void> {
  const base = { system: system.name, family: system.family, durability: system.durability, transport: system.transport, ...shape };
  let workload: Workload | undefined;
  for (const scenario of options.scenarios(shape)) {
    const label = `${system.name} ${scenario} ${shapeLabel(shape)}`;
    options.onStep?.(label);
    try {
      workload ??= new Workload(shape, await system.primitives(shape), options.bytesBudget);
      await workload.prepare(scenario);
      const measurement = await run({
        callers: shape.callers,
        itemsPerOp: shape.batch,
        durationMs: options.durationMs,
        // A drain has no steady state to warm up to, and the queue is finite.
        ...(scenario === "queue-get" ? { warmupMs: 0 } : {}),
        ...(scenario.endsWith("put") ? { maxOps: workload.putOpsMax } : {}),
        op: workload.op(scenario),
      });
      records.push({ ...base, scenario, ...measurement });
    } catch (error) {
      options.onError?.(label, errorLine(error));
      records.push({ ...base, scenario, error: errorLine(error) });
    }
  }
  try {
    await workload?.dispose();
  } catch (error) {
    options.onError?.(`${system.name} cleanup after ${shapeLabel(shape)}`, errorLine(error));
  }
}
