// `npm run bench:wire [-- --quick]`: issue 20's figures. Larder's framed transport
// (`larder://`, docs/protocol.md) beside Larder over HTTP (the default client, batching) and
// Redis with `appendfsync always` through ioredis, in the same run: fsync durability, 64
// callers, 100-byte values; single-item queue put and get, dict put and get, putMany(100)
// and getMany(100). Prints the table with the ratios and the load average around the run.
//
// `--baseline=DIR`: also Larder over HTTP as built in DIR (another checkout, `npm ci && npx
// tsc -p tsconfig.build.json` done there: its client and its server), so that this build's
// HTTP figures are compared with an older one's in the same run (column "http @base").

import { loadavg } from "node:os";
import { parseArgs } from "./lib/args.ts";
import { formatRate, formatRatio } from "./lib/format.ts";
import { LarderSystem } from "./lib/larder.ts";
import { matrixSteps, runMatrixAndClose, startSystems } from "./lib/matrix.ts";
import { saveResult } from "./lib/program.ts";
import { Progress } from "./lib/progress.ts";
import { REDIS_MISSING_NOTE, RedisSystem, findRedisServer } from "./lib/redis.ts";
import type { ResultRecord } from "./lib/report.ts";
import { runMeta } from "./lib/results.ts";
import { printTable, type Row } from "./lib/table.ts";
import type { Shape } from "./lib/workload.ts";

const args = parseArgs();
const durationMs = args.durationMs ?? (args.quick ? 300 : 3000);
const rounds = args.rounds ?? (args.quick ? 1 : 3);
const meta = runMeta("bench/wire.ts", args.quick, durationMs);
const progress = new Progress(1);
const loadBefore = loadavg();

const redis = findRedisServer();
if (redis === undefined) progress.note(REDIS_MISSING_NOTE);
const baseline = args.extra.get("baseline");
const systems = await startSystems([
  () => LarderSystem.open("fsync", "wire"),
  () => LarderSystem.open("fsync", "http"),
  ...(baseline === undefined ? [] : [() => LarderSystem.openBaseline("fsync", baseline)]),
  ...(redis === undefined ? [] : [() => RedisSystem.start(redis, "always")]),
], progress);
const shapes: Shape[] = [1, 100].map((batch) => ({ valueBytes: 100, batch, callers: 64 }));
const plan = {
  systems,
  shapes,
  scenarios: (s: Shape) => (s.batch === 1 ? (["queue-put", "queue-get", "dict-put", "dict-get"] as const) : (["queue-put", "queue-get"] as const)),
  rounds,
};
progress.expect(matrixSteps(plan));
const records = await runMatrixAndClose({ ...plan, durationMs }, args.quick, progress);
progress.end();
const loadAfter = loadavg();

const TITLES: Record<string, string> = { "queue-put": "queue put", "queue-get": "queue get", "dict-put": "dict put", "dict-get": "dict get" };
function rate(system: string, scenario: string, batch: number): number | undefined {
  return records.find((r: ResultRecord) => r.system === system && r.scenario === scenario && r.batch === batch)?.itemsPerSec;
}
const rows: Row[] = [];
for (const shape of shapes) {
  for (const scenario of plan.scenarios(shape)) {
    const wire = rate("larder-wire-fsync", scenario, shape.batch);
    const http = rate("larder-http-fsync", scenario, shape.batch);
    const always = rate("redis-always", scenario, shape.batch);
    const base = rate("larder-http-fsync@base", scenario, shape.batch);
    const ratio = (a: number | undefined, b: number | undefined) => formatRatio(a !== undefined && b ? a / b : undefined);
    const fmt = (v: number | undefined) => (v === undefined ? "-" : formatRate(v));
    const name = shape.batch === 1 ? TITLES[scenario]! : scenario === "queue-put" ? "putMany(100)" : "getMany(100)";
    const row = [name, fmt(wire), fmt(http), fmt(always), ratio(wire, always), ratio(http, always), ratio(wire, http)];
    rows.push(baseline === undefined ? row : [...row, fmt(base), ratio(http, base)]);
  }
}
process.stdout.write(`fsync, 64 callers, 100-byte values, items/s; load average ${loadBefore.map((l) => l.toFixed(1)).join(" ")} before, ${loadAfter.map((l) => l.toFixed(1)).join(" ")} after\n`);
printTable(
  [
    { title: "operation", align: "left" },
    { title: "larder://" },
    { title: "http" },
    { title: "redis always" },
    { title: "wire/redis" },
    { title: "http/redis" },
    { title: "wire/http" },
    ...(baseline === undefined ? [] : [{ title: "http @base" }, { title: "http/base" }]),
  ],
  rows,
);
const path = saveResult(args, meta, "wire", "json", { meta, loadBefore, loadAfter, results: records });
process.stdout.write(`\nresults: ${path}\n`);
