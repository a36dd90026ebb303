// `npm run bench:request-ids [-- --quick]`: what request ids cost (docs/protocol.md,
// "Request ids"). Larder over HTTP with fsync, 64 callers, 100-byte values: single-item
// queue put and dict put, putMany(100) and getMany(100), by the default client (ids on)
// and by one with `requestIds: false`, each against a server of its own, rounds
// interleaved in the same run. The targets (issue 14): at most 10% slower on put ×64 and
// putMany(100) ×64, at most 15% on getMany(100) ×64.

import { parseArgs } from "./lib/args.ts";
import { LarderSystem } from "./lib/larder.ts";
import { matrixSteps, runMatrixAndClose, startSystems } from "./lib/matrix.ts";
import { formatRate } from "./lib/format.ts";
import { saveResult } from "./lib/program.ts";
import { Progress } from "./lib/progress.ts";
import { runMeta } from "./lib/results.ts";
import { printTable, type Row } from "./lib/table.ts";
import type { Shape } from "./lib/workload.ts";

const args = parseArgs();
const durationMs = args.durationMs ?? (args.quick ? 300 : 2000);
const rounds = args.rounds ?? (args.quick ? 1 : 4);
const meta = runMeta("bench/request-ids.ts", args.quick, durationMs);
const progress = new Progress(1);

const systems = await startSystems([() => LarderSystem.open("fsync", "http"), () => LarderSystem.open("fsync", "http", false, false)], progress);
const shapes: Shape[] = [1, 100].map((batch) => ({ valueBytes: 100, batch, callers: 64 }));
const plan = {
  systems,
  shapes,
  scenarios: (s: Shape) => (s.batch === 1 ? (["queue-put", "dict-put"] as const) : (["queue-put", "queue-get"] as const)),
  rounds,
};
progress.expect(matrixSteps(plan));
const records = await runMatrixAndClose({ ...plan, durationMs }, args.quick, progress);
progress.end();

const [withIds, withoutIds] = systems.map((s) => s.name);
const limits: Record<string, number> = { "queue-put 1": 0.1, "queue-put 100": 0.1, "queue-get 100": 0.15, "dict-put 1": 0.1 };
const rows: Row[] = [];
for (const shape of shapes) {
  for (const scenario of plan.scenarios(shape)) {
    const find = (system: string | undefined) =>
      records.find((r) => r.system === system && r.scenario === scenario && r.batch === shape.batch && r.callers === shape.callers);
    const on = find(withIds)?.itemsPerSec;
    const off = find(withoutIds)?.itemsPerSec;
    const label = `${scenario}${shape.batch === 1 ? "" : `(${shape.batch})`} x${shape.callers}`;
    const cost = on !== undefined && off !== undefined ? 1 - on / off : undefined;
    const limit = limits[`${scenario} ${shape.batch}`];
    rows.push([
      label,
      off === undefined ? "-" : formatRate(off),
      on === undefined ? "-" : formatRate(on),
      cost === undefined ? "-" : `${(cost * 100).toFixed(1)}%`,
      limit === undefined ? "-" : `${limit * 100}%`,
      cost === undefined || limit === undefined ? "-" : cost <= limit ? "met" : "missed",
    ]);
  }
}
printTable(
  [
    { title: "HTTP fsync, items/s" },
    { title: "ids off", align: "right" },
    { title: "ids on", align: "right" },
    { title: "cost", align: "right" },
    { title: "at most", align: "right" },
    { title: "target" },
  ],
  rows,
);
const path = saveResult(args, meta, "request-ids", "json", { meta, results: records });
process.stdout.write(`\nresults: ${path}\n`);
