// `npm run bench:http [-- --quick]`: issue 3's figures. Larder over HTTP on loopback (fsync
// and buffered) beside a bare node:http server answering requests of the same sizes (measured
// on Larder's own wire at start-up), 100-byte values: single-item queue put/get and dict
// put/get, putMany(100) and getMany(100), 1 and 64 callers; then the latency from a put to
// a blocked remote getter's return.

import { parseArgs } from "./lib/args.ts";
import { BareHttpSystem } from "./lib/bare-http.ts";
import { httpTargets } from "./lib/http-targets.ts";
import { LarderSystem } from "./lib/larder.ts";
import { matrixSteps, runMatrixAndClose, startSystems } from "./lib/matrix.ts";
import { saveResult } from "./lib/program.ts";
import { Progress } from "./lib/progress.ts";
import { REPORT_COLUMNS, computeRatios, reportRows } from "./lib/report.ts";
import { runMeta } from "./lib/results.ts";
import { printTable } from "./lib/table.ts";
import { TARGET_COLUMNS, targetRows } from "./lib/targets.ts";
import { WAKE_COLUMNS, wakeRows, wakeTargets } from "./lib/wake-report.ts";
import { wakeSuite } from "./lib/wake.ts";
import { bareWireSizer } from "./lib/wire-calibration.ts";
import type { Shape } from "./lib/workload.ts";

const args = parseArgs();
const durationMs = args.durationMs ?? (args.quick ? 200 : 2000);
const rounds = args.rounds ?? (args.quick ? 1 : 4);
const meta = runMeta("bench/http.ts", args.quick, durationMs);
const progress = new Progress(1);

progress.begin("measuring Larder's request sizes for the bare-http baseline");
const wire = await bareWireSizer([1, 100], [100]);
if (wire.problem !== undefined) progress.note(`bare-http: using estimated request sizes: ${wire.problem}`);

const systems = await startSystems([
  () => LarderSystem.open("fsync", "http"),
  () => LarderSystem.open("buffered", "http"),
  () => LarderSystem.open("buffered", "http", true),
  () => BareHttpSystem.start(wire.sizer),
], progress);
const shapes: Shape[] = [1, 100].flatMap((batch) => [1, 64].map((callers) => ({ valueBytes: 100, batch, callers })));
const plan = {
  systems,
  shapes,
  // Batches: putMany(100) and getMany(100); single items: every scenario.
  scenarios: (s: Shape) => (s.batch === 1 ? (["queue-put", "queue-get", "dict-put", "dict-get"] as const) : (["queue-put", "queue-get"] as const)),
  rounds,
};
progress.expect(matrixSteps(plan) + 2);
const records = await runMatrixAndClose({ ...plan, durationMs }, args.quick, progress);
computeRatios(records);
const wake = await wakeSuite({
  samples: args.quick ? 30 : 300,
  larder: [
    { durability: "fsync", transport: "http" },
    { durability: "buffered", transport: "http" },
  ],
  redis: { executable: undefined, modes: [] },
  onStep: (label) => progress.begin(label),
});
progress.end();

// The level and redis columns stay empty here: bench:http compares with the bare server only.
printTable(REPORT_COLUMNS, reportRows(records));
process.stdout.write("\n");
printTable(WAKE_COLUMNS, wakeRows(wake));
process.stdout.write("\n");
const targets = [...httpTargets(records), ...wakeTargets(wake).filter((t) => t.target.includes("remote"))];
printTable(TARGET_COLUMNS, targetRows(targets));
const path = saveResult(args, meta, "http", "json", { meta, wire: wire.table ?? "estimated", results: records, wake, targets });
process.stdout.write(`\nresults: ${path}\n`);
