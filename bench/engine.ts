// `npm run bench:engine [-- --quick]`: issue 2's embedded-engine table. Queue put, get,
// putMany(100), getMany(100), dict put and get, 100-byte values, 1 and 64 callers, fsync
// and buffered, beside raw classic-level in the same run (single put, chained batch of
// 1,000, get, getSync), and the put -> blocked-getter wake latency.

import { parseArgs } from "./lib/args.ts";
import { ENGINE_COLUMNS, engineRows } from "./lib/engine-report.ts";
import { engineSteps, engineSuite, engineTargets } from "./lib/engine-suite.ts";
import { saveResult } from "./lib/program.ts";
import { Progress } from "./lib/progress.ts";
import { runMeta } from "./lib/results.ts";
import { printTable } from "./lib/table.ts";
import { TARGET_COLUMNS, targetRows } from "./lib/targets.ts";
import { WAKE_COLUMNS, wakeRows, wakeTargets } from "./lib/wake-report.ts";
import { wakeSuite } from "./lib/wake.ts";

const MiB = 1 << 20;
const args = parseArgs();
const durationMs = args.durationMs ?? (args.quick ? 200 : 2000);
const meta = runMeta("bench/engine.ts", args.quick, durationMs);
const suiteOptions = {
  durationMs,
  bytesBudget: args.quick ? 32 * MiB : 256 * MiB,
  durabilities: ["fsync", "buffered"] as const,
  callers: [1, 64],
};
const progress = new Progress(engineSteps(suiteOptions) + 2);
const records = await engineSuite({
  ...suiteOptions,
  onStep: (label) => progress.begin(label),
  onError: (label, error) => progress.note(`${label}: failed: ${(error as Error)?.message ?? error}`),
});
const wake = await wakeSuite({
  samples: args.quick ? 30 : 300,
  larder: [
    { durability: "fsync", transport: "embedded" },
    { durability: "buffered", transport: "embedded" },
  ],
  redis: { executable: undefined, modes: [] },
  onStep: (label) => progress.begin(label),
});
progress.end();

printTable(ENGINE_COLUMNS, engineRows(records));
process.stdout.write("\n");
printTable(WAKE_COLUMNS, wakeRows(wake));
process.stdout.write("\n");
const targets = [...engineTargets(records), ...wakeTargets(wake).filter((t) => !t.target.includes("remote"))];
printTable(TARGET_COLUMNS, targetRows(targets));
const path = saveResult(args, meta, "engine", "json", { meta, results: records, wake, targets });
process.stdout.write(`\nresults: ${path}\n`);
