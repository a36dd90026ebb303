// `npm run bench`: everything in one run. Flags: --quick, --duration=MS, --rounds=N,
// --only=SYSTEMS, --skip=wake,scale, --out=DIR.
//
// 1. The side-by-side matrix: queue put, queue get, dict put, dict get; 1 and 64 callers;
//    single items and batches of 100; 100-byte and 10 KiB values, for these systems,
//    scenario by scenario in the same run so that they share the machine's state:
//      larder-fsync, larder-buffered             embedded, `open({ durability })`
//      larder-http-fsync, larder-http-buffered   `startServer` (own process) + `connect`
//      larder-http-buffered-unbatched            the same with one request per call (no batches)
//      level-fsync, level-buffered               raw classic-level: the limit of the storage
//      bare-http                                 node:http + undici: the limit of the transport
//      redis-always, redis-none                  Redis 7 via ioredis, when redis-server is installed
//      larder-postgres, larder-postgres-sync     `open({ postgres })` on a PostgreSQL 15 started for the
//                                                run: primary alone, and with a synchronous standby
//    plus raw chained batches of 1,000 (level-fsync), the reference of issue 2's target.
// 2. Wake latency (put -> blocked getter), embedded, remote and Redis.
// 3. The scale run (1M queue items / 10k partitions / 1M dict keys; a tenth with --quick).
// 4. Every target of issues 2-4, checked against the figures above.
// Prints the tables on stdout, progress on stderr; writes JSON and an SVG chart to bench/results/.

import { parseArgs, selected } from "./lib/args.ts";
import { BareHttpSystem } from "./lib/bare-http.ts";
import { renderBarChart } from "./lib/chart.ts";
import { rawBatchTarget } from "./lib/engine-suite.ts";
import { sizeLabel } from "./lib/format.ts";
import { batchTargets } from "./lib/batch-targets.ts";
import { httpTargets } from "./lib/http-targets.ts";
import { LarderSystem } from "./lib/larder.ts";
import { LevelSystem } from "./lib/level.ts";
import { PostgresSystem, postgresMissing, postgresWake } from "./lib/postgres.ts";
import { postgresTargets, postgresWakeTargets } from "./lib/postgres-targets.ts";
import { errorLine, matrixSteps, runMatrix } from "./lib/matrix.ts";
import { saveResult } from "./lib/program.ts";
import { Progress } from "./lib/progress.ts";
import { REDIS_MISSING_NOTE, RedisSystem, findRedisServer } from "./lib/redis.ts";
import { REPORT_COLUMNS, computeRatios, reportChart, reportRows, type ResultRecord } from "./lib/report.ts";
import { runMeta } from "./lib/results.ts";
import { SCALE_COLUMNS, SCALE_FULL, SCALE_QUICK, scaleRows, scaleSuite, scaleTargets, type ScaleRecord } from "./lib/scale-suite.ts";
import { printTable } from "./lib/table.ts";
import { TARGET_COLUMNS, targetRows, type TargetCheck } from "./lib/targets.ts";
import { WAKE_COLUMNS, wakeRows, wakeTargets } from "./lib/wake-report.ts";
import { wakeSuite, type WakeRecord } from "./lib/wake.ts";
import { bareWireSizer } from "./lib/wire-calibration.ts";
import { SCENARIO_KINDS, type Shape, type System } from "./lib/workload.ts";
import type { WireSizer } from "./lib/bare-http.ts";

const MiB = 1 << 20;
const VALUE_SIZES = [100, 10 * 1024];
const BATCHES = [1, 100];
const CALLERS = [1, 64];
/** The raw chained batch of issue 2's target: "at least 30% of the raw chained-batch entries/s". */
const RAW_BATCH = 1000;

const args = parseArgs();
const durationMs = args.durationMs ?? (args.quick ? 200 : 1500);
/** Interleaved slices per scenario (lib/matrix.ts): drift then falls on every system alike. */
const rounds = args.rounds ?? (args.quick ? 1 : 3);
/** Value bytes one put scenario may write: bounds disk use (and so the queue a get drains). */
const bytesBudget = args.quick ? 64 * MiB : 512 * MiB;
const skip = new Set((args.extra.get("skip") ?? "").split(",").filter((w) => w !== ""));
const meta = runMeta("bench/all.ts", args.quick, durationMs);
const progress = new Progress(1);
const redisExecutable = findRedisServer();

interface Skipped {
  system: string;
  reason: string;
}

async function startSystems(sizer: WireSizer, skipped: Skipped[]): Promise<System[]> {
  const factories: Array<[string, () => Promise<System>]> = [
    ["larder-fsync", () => LarderSystem.open("fsync", "embedded")],
    ["larder-buffered", () => LarderSystem.open("buffered", "embedded")],
    ["larder-http-fsync", () => LarderSystem.open("fsync", "http")],
    ["larder-http-buffered", () => LarderSystem.open("buffered", "http")],
    ["larder-http-buffered-unbatched", () => LarderSystem.open("buffered", "http", true)],
    ["level-fsync", () => LevelSystem.open("fsync")],
    ["level-buffered", () => LevelSystem.open("buffered")],
    ["bare-http", () => BareHttpSystem.start(sizer)],
  ];
  const pgMissing = postgresMissing();
  for (const [name, standby] of [["larder-postgres", false], ["larder-postgres-sync", true]] as const) {
    if (pgMissing === undefined) factories.push([name, () => PostgresSystem.open(standby)]);
    else if (selected(args, name)) skipped.push({ system: name, reason: pgMissing });
  }
  if (redisExecutable === undefined) {
    progress.note(REDIS_MISSING_NOTE);
    for (const name of ["redis-always", "redis-none"]) skipped.push({ system: name, reason: "redis-server is not on PATH" });
  } else {
    factories.push(["redis-always", () => RedisSystem.start(redisExecutable, "always")]);
    factories.push(["redis-none", () => RedisSystem.start(redisExecutable, "none")]);
  }
  const systems: System[] = [];
  for (const [name, start] of factories) {
    if (!selected(args, name)) continue;
    try {
      systems.push(await start());
    } catch (error) {
      progress.note(`${name}: skipped, it did not start: ${errorLine(error)}`);
      skipped.push({ system: name, reason: errorLine(error) });
    }
  }
  return systems;
}

function shapes(): Shape[] {
  return VALUE_SIZES.flatMap((valueBytes) =>
    BATCHES.flatMap((batch) => CALLERS.map((callers) => ({ valueBytes, batch, callers }))),
  );
}

/** level-fsync chained batches of RAW_BATCH entries with sync: the reference of issue 2's 30% target. */
async function rawBatchRecords(): Promise<ResultRecord[]> {
  const level = await LevelSystem.open("fsync");
  try {
    return await runMatrix({
      systems: [level],
      shapes: CALLERS.map((callers) => ({ valueBytes: 100, batch: RAW_BATCH, callers })),
      scenarios: () => ["queue-put"],
      durationMs,
      bytesBudget,
      onStep: (label) => progress.begin(label),
      onError: (label, message) => progress.note(`${label}: failed: ${message}`),
    });
  } finally {
    await level.close();
  }
}

function engineTarget(records: readonly ResultRecord[]): TargetCheck {
  const larder = records.find((r) => r.system === "larder-fsync" && r.scenario === "queue-put" && r.valueBytes === 100 && r.batch === 1 && r.callers === 64);
  const raw = records.find((r) => r.system === "level-fsync" && r.batch === RAW_BATCH && r.callers === 1);
  return rawBatchTarget(larder?.itemsPerSec, raw?.itemsPerSec);
}

async function main(): Promise<void> {
  const skipped: Skipped[] = [];
  let sizer: WireSizer | undefined;
  let wireTable: unknown = "estimated";
  if (selected(args, "bare-http")) {
    progress.begin("measuring Larder's request sizes for the bare-http baseline");
    const wire = await bareWireSizer(BATCHES, VALUE_SIZES);
    if (wire.problem !== undefined) progress.note(`bare-http: using estimated request sizes: ${wire.problem}`);
    sizer = wire.sizer;
    wireTable = wire.table ?? "estimated";
  }
  const systems = await startSystems(sizer!, skipped);
  const plan = { systems, shapes: shapes(), scenarios: () => SCENARIO_KINDS, rounds };
  const wakeLarder = (["fsync", "buffered"] as const).flatMap((durability) =>
    (["embedded", "http"] as const).map((transport) => ({ durability, transport })),
  );
  progress.expect(
    matrixSteps(plan) + CALLERS.length + (skip.has("wake") ? 0 : wakeLarder.length + 2) + (skip.has("scale") ? 0 : 2),
  );
  progress.note(
    `bench: ${systems.length} systems x ${plan.shapes.length * SCENARIO_KINDS.length} scenarios, ` +
      `${durationMs} ms each in ${rounds} interleaved rounds${args.quick ? " (--quick)" : ""}; temp folders in ${process.env.TMPDIR ?? "/tmp"}`,
  );

  let records: ResultRecord[] = [];
  try {
    records = await runMatrix({
      ...plan,
      durationMs,
      bytesBudget,
      onStep: (label) => progress.begin(label),
      onError: (label, message) => progress.note(`${label}: failed: ${message}`),
    });
  } finally {
    for (const system of systems) {
      await system.close().catch((error) => progress.note(`${system.name}: close failed: ${errorLine(error)}`));
    }
  }
  if (selected(args, "level-fsync")) records.push(...(await rawBatchRecords()));
  computeRatios(records);

  let wake: WakeRecord[] = [];
  if (!skip.has("wake")) {
    wake = await wakeSuite({
      samples: args.quick ? 30 : 300,
      larder: wakeLarder,
      redis: { executable: redisExecutable, modes: ["always", "none"] },
      onStep: (label) => progress.begin(label),
    });
    if (postgresMissing() === undefined && selected(args, "larder-postgres")) {
      wake.push(...(await postgresWake(args.quick ? 30 : 300, (label) => progress.begin(label))));
    }
  }
  let scale: ScaleRecord | undefined;
  if (!skip.has("scale")) {
    scale = await scaleSuite({ size: args.quick ? SCALE_QUICK : SCALE_FULL, keep: false, onStep: (l) => progress.begin(l) });
  }
  progress.end();

  printTable(REPORT_COLUMNS, reportRows(records));
  for (const s of skipped) process.stdout.write(`skipped: ${s.system}: ${s.reason}\n`);
  if (wake.length > 0) {
    process.stdout.write("\n");
    printTable(WAKE_COLUMNS, wakeRows(wake));
  }
  if (scale !== undefined) {
    process.stdout.write("\n");
    printTable(SCALE_COLUMNS, scaleRows(scale));
  }
  const targets: TargetCheck[] = [
    engineTarget(records),
    ...httpTargets(records),
    ...batchTargets(records, RAW_BATCH),
    ...postgresTargets(records),
    ...postgresWakeTargets(wake),
    ...wakeTargets(wake),
    ...(scale === undefined ? [] : scaleTargets(scale)),
  ];
  process.stdout.write("\n");
  printTable(TARGET_COLUMNS, targetRows(targets));

  const data = { meta, wire: wireTable, skipped, results: records, wake, scale, targets };
  const jsonPath = saveResult(args, meta, "bench", "json", data);
  const subtitle =
    `${meta.startedAt}  node ${meta.node}  ${meta.cpus} x ${meta.cpuModel}  ${durationMs} ms per scenario` +
    `${args.quick ? " (--quick)" : ""}  values ${VALUE_SIZES.map(sizeLabel).join("/")}, xN = items per call, cN = concurrent callers`;
  const chart = reportChart(records.filter((r) => r.batch !== RAW_BATCH), systems.map((s) => s.name), subtitle);
  const svgPath = saveResult(args, meta, "bench", "svg", renderBarChart(chart));
  process.stdout.write(`\nresults: ${jsonPath}\nchart:   ${svgPath}\n`);
}

await main();
