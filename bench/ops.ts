// `npm run bench:ops [-- --quick]`: what the server's metrics and log cost the request path
// (docs/ops.md). Larder over HTTP with fsync, 64 callers, 100-byte values: single-item queue
// put and get, dict put and get, against a server as shipped (metrics on, log at its
// default level, access log off) and one with metrics off and the log silent, each in a
// process of its own, rounds interleaved in the same run. The target (issue 18): not
// measurably slower, taken here as within 5% on every row (the spread between rounds on
// this shared machine is of that order; re-run a row that misses it).

import { parseArgs } from "./lib/args.ts";
import { LarderSystem } from "./lib/larder.ts";
import { matrixSteps, runMatrixAndClose, startSystems } from "./lib/matrix.ts";
import { formatRate } from "./lib/format.ts";
import { saveResult } from "./lib/program.ts";
import { Progress } from "./lib/progress.ts";
import { runMeta } from "./lib/results.ts";
import { printTable, type Row } from "./lib/table.ts";
import type { Shape } from "./lib/workload.ts";

const COST_MAX = 0.05;
const args = parseArgs();
const durationMs = args.durationMs ?? (args.quick ? 300 : 2000);
const rounds = args.rounds ?? (args.quick ? 1 : 4);
const meta = runMeta("bench/ops.ts", args.quick, durationMs);
const progress = new Progress(1);

const systems = await startSystems([() => LarderSystem.open("fsync", "http"), () => LarderSystem.open("fsync", "http", false, true, false)], progress);
const shapes: Shape[] = [{ valueBytes: 100, batch: 1, callers: 64 }];
const plan = { systems, shapes, scenarios: () => ["queue-put", "queue-get", "dict-put", "dict-get"] as const, rounds };
progress.expect(matrixSteps(plan));
const records = await runMatrixAndClose({ ...plan, durationMs }, args.quick, progress);
progress.end();

const [observed, bare] = systems.map((s) => s.name);
const rows: Row[] = [];
for (const shape of shapes) {
  for (const scenario of plan.scenarios()) {
    const find = (system: string | undefined) =>
      records.find((r) => r.system === system && r.scenario === scenario && r.batch === shape.batch && r.callers === shape.callers);
    const on = find(observed)?.itemsPerSec;
    const off = find(bare)?.itemsPerSec;
    const cost = on !== undefined && off !== undefined ? 1 - on / off : undefined;
    rows.push([
      `${scenario} x${shape.callers}`,
      off === undefined ? "-" : formatRate(off),
      on === undefined ? "-" : formatRate(on),
      on === undefined || off === undefined ? "-" : (on / off).toFixed(3),
      cost === undefined ? "-" : `${(cost * 100).toFixed(1)}%`,
      cost === undefined ? "-" : cost <= COST_MAX ? "met" : "missed",
    ]);
  }
}
printTable(
  [
    { title: "HTTP fsync, items/s" },
    { title: "metrics off", align: "right" },
    { title: "metrics on", align: "right" },
    { title: "on/off", align: "right" },
    { title: "cost", align: "right" },
    { title: `target (<= ${COST_MAX * 100}%)` },
  ],
  rows,
);
const path = saveResult(args, meta, "ops", "json", { meta, results: records });
process.stdout.write(`\nresults: ${path}\n`);
