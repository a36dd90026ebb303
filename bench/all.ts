// `npm run bench`: the main scenarios with every baseline in at most 5 minutes; `--full`
// the whole matrix (about 15 minutes). Flags: --full, --quick, --dry-run (list the steps and
// the estimate, run nothing), --duration=MS, --rounds=N, --only=SYSTEMS, --skip=reserve,wake,scale,
// --out=DIR. What each mode runs, and the estimate printed at the start: lib/all-plan.ts.
//
// 1. The side-by-side matrix: queue put, queue get, dict put, dict get; 1 and 64 callers;
//    single items and batches of 100; 100-byte (and with --full 10 KiB) values, for these systems,
//    scenario by scenario in the same run so that they share the machine's state:
//      larder-fsync, larder-buffered             embedded, `open({ durability })`
//      larder-http-fsync, larder-http-buffered   `startServer` (own process) + `connect`
//      larder-http-buffered-unbatched            the same with one request per call (no batches)
//      level-fsync, level-buffered               raw classic-level: the limit of the storage
//      bare-http                                 node:http + undici: the limit of the transport
//      redis-always, redis-none                  Redis 7 via ioredis, when redis-server is installed
//      larder-postgres, larder-postgres-sync     `open({ postgres })` on a PostgreSQL 15 started for the
//                                                run: primary alone, and (--full) with a synchronous standby
//    plus raw chained batches of 1,000 (level-fsync), the reference of issue 2's target.
// 2. Reserve + ack beside get / getMany (issue 13): single items and batches of 100, 64
//    callers, fsync, embedded and HTTP, rounds interleaved (lib/reserve-suite.ts).
// 3. Wake latency (put -> blocked getter), embedded, remote and Redis.
// 4. The scale run (1M queue items / 10k partitions / 1M dict keys with --full; a tenth otherwise).
// 5. Every target of issues 2-4 and 13, checked against the figures above.
// Prints the tables on stdout, progress on stderr; writes JSON and an SVG chart to bench/results/.

import { parseArgs } from "./lib/args.ts";
import { RAW_BATCH, allPlan, estimateLine, planSteps } from "./lib/all-plan.ts";
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
import { RESERVE_COLUMNS, reserveItemsPerRun, reserveRows, reserveSuite, reserveTargets, type ReserveRecord } from "./lib/reserve-suite.ts";
import { REPORT_COLUMNS, computeRatios, reportChart, reportRows, type ResultRecord } from "./lib/report.ts";
import { runMeta } from "./lib/results.ts";
import { SCALE_COLUMNS, scaleRows, scaleSuite, scaleTargets, type ScaleRecord } from "./lib/scale-suite.ts";
import { printTable } from "./lib/table.ts";
import { TARGET_COLUMNS, targetRows, type TargetCheck } from "./lib/targets.ts";
import { WAKE_COLUMNS, wakeRows, wakeTargets } from "./lib/wake-report.ts";
import { wakeSuite, type WakeRecord } from "./lib/wake.ts";
import { bareWireSizer } from "./lib/wire-calibration.ts";
import type { System } from "./lib/workload.ts";
import type { WireSizer } from "./lib/bare-http.ts";

const args = parseArgs();
const redisExecutable = findRedisServer();
const plan = allPlan(args, { redis: redisExecutable !== undefined, postgres: postgresMissing() === undefined });
const { durationMs, rounds, bytesBudget, settleMsMax } = plan;
const meta = runMeta("bench/all.ts", args.quick, durationMs);
const progress = new Progress(1);

interface Skipped {
  system: string;
  reason: string;
}

async function startSystems(sizer: WireSizer, skipped: Skipped[]): Promise<System[]> {
  const factories: Record<string, () => Promise<System>> = {
    "larder-fsync": () => LarderSystem.open("fsync", "embedded"),
    "larder-buffered": () => LarderSystem.open("buffered", "embedded"),
    "larder-http-fsync": () => LarderSystem.open("fsync", "http"),
    "larder-http-buffered": () => LarderSystem.open("buffered", "http"),
    "larder-http-buffered-unbatched": () => LarderSystem.open("buffered", "http", true),
    "level-fsync": () => LevelSystem.open("fsync"),
    "level-buffered": () => LevelSystem.open("buffered"),
    "bare-http": () => BareHttpSystem.start(sizer),
    "larder-postgres": () => PostgresSystem.open(false),
    "larder-postgres-sync": () => PostgresSystem.open(true),
    "redis-always": () => RedisSystem.start(redisExecutable!, "always"),
    "redis-none": () => RedisSystem.start(redisExecutable!, "none"),
  };
  if (redisExecutable === undefined) progress.note(REDIS_MISSING_NOTE);
  skipped.push(...plan.left);
  const systems: System[] = [];
  for (const name of plan.systems) {
    try {
      systems.push(await factories[name]!());
    } catch (error) {
      progress.note(`${name}: skipped, it did not start: ${errorLine(error)}`);
      skipped.push({ system: name, reason: errorLine(error) });
    }
  }
  return systems;
}

/** level-fsync chained batches of RAW_BATCH entries with sync: the reference of issue 2's 30% target. */
async function rawBatchRecords(): Promise<ResultRecord[]> {
  const level = await LevelSystem.open("fsync");
  try {
    return await runMatrix({
      systems: [level],
      shapes: [1, 64].map((callers) => ({ valueBytes: 100, batch: RAW_BATCH, callers })),
      scenarios: () => ["queue-put"],
      durationMs,
      bytesBudget,
      settleMsMax,
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
  progress.note(estimateLine(plan));
  if (args.extra.has("dry-run")) {
    for (const step of planSteps(plan)) process.stdout.write(`${step}\n`);
    for (const s of plan.left) process.stdout.write(`left out: ${s.system}: ${s.reason}\n`);
    process.stdout.write(`${estimateLine(plan)}\n`);
    return;
  }
  const skipped: Skipped[] = [];
  const valueSizes = [...new Set(plan.shapes.map((s) => s.valueBytes))];
  const batches = [...new Set(plan.shapes.map((s) => s.batch))];
  let sizer: WireSizer | undefined;
  let wireTable: unknown = "estimated";
  if (plan.systems.includes("bare-http")) {
    progress.begin("measuring Larder's request sizes for the bare-http baseline");
    const wire = await bareWireSizer(batches, valueSizes);
    if (wire.problem !== undefined) progress.note(`bare-http: using estimated request sizes: ${wire.problem}`);
    sizer = wire.sizer;
    wireTable = wire.table ?? "estimated";
  }
  const systems = await startSystems(sizer!, skipped);
  const matrix = { systems, shapes: plan.shapes, scenarios: plan.scenarios, rounds };
  const wakeLarder = (["fsync", "buffered"] as const).flatMap((durability) =>
    (["embedded", "http"] as const).map((transport) => ({ durability, transport })),
  );
  progress.expect(planSteps({ ...plan, systems: systems.map((s) => s.name) }).length);
  progress.note(
    `bench: ${systems.length} systems, ${matrixSteps(matrix)} slices of ${Math.round(durationMs / rounds)} ms ` +
      `(${durationMs} ms per scenario in ${rounds} interleaved rounds); temp folders in ${process.env.TMPDIR ?? "/tmp"}`,
  );

  let records: ResultRecord[] = [];
  try {
    records = await runMatrix({
      ...matrix,
      durationMs,
      bytesBudget,
      settleMsMax,
      onStep: (label) => progress.begin(label),
      onError: (label, message) => progress.note(`${label}: failed: ${message}`),
    });
  } finally {
    for (const system of systems) {
      await system.close().catch((error) => progress.note(`${system.name}: close failed: ${errorLine(error)}`));
    }
  }
  if (plan.rawBatch) records.push(...(await rawBatchRecords()));
  computeRatios(records);

  let reserve: ReserveRecord[] = [];
  if (plan.reserve !== undefined) {
    const sliceMs = durationMs / rounds;
    reserve = await reserveSuite({
      durationMs: sliceMs,
      rounds,
      itemsPerRun: reserveItemsPerRun(sliceMs),
      systems: plan.reserve.systems,
      onStep: (label) => progress.begin(label),
    });
  }

  let wake: WakeRecord[] = [];
  if (plan.wake !== undefined) {
    const samples = plan.wake.samples;
    wake = await wakeSuite({
      samples,
      larder: wakeLarder,
      redis: { executable: redisExecutable, modes: ["always", "none"] },
      onStep: (label) => progress.begin(label),
    });
    if (plan.wake.systems.includes("larder-postgres")) {
      wake.push(...(await postgresWake(samples, (label) => progress.begin(label))));
    }
  }
  let scale: ScaleRecord | undefined;
  if (plan.scale !== undefined) {
    scale = await scaleSuite({ size: plan.scale, keep: false, onStep: (l) => progress.begin(l) });
  }
  progress.end();

  printTable(REPORT_COLUMNS, reportRows(records));
  for (const s of skipped) process.stdout.write(`skipped: ${s.system}: ${s.reason}\n`);
  if (reserve.length > 0) {
    process.stdout.write("\n");
    printTable(RESERVE_COLUMNS, reserveRows(reserve));
  }
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
    ...reserveTargets(reserve),
    ...postgresWakeTargets(wake),
    ...wakeTargets(wake),
    ...(scale === undefined ? [] : scaleTargets(scale)),
  ];
  process.stdout.write("\n");
  printTable(TARGET_COLUMNS, targetRows(targets));

  const data = { meta, mode: plan.mode, wire: wireTable, skipped, results: records, reserve, wake, scale, targets };
  const jsonPath = saveResult(args, meta, "bench", "json", data);
  const subtitle =
    `${meta.startedAt}  node ${meta.node}  ${meta.cpus} x ${meta.cpuModel}  ${durationMs} ms per scenario` +
    ` (${plan.mode})  values ${valueSizes.map(sizeLabel).join("/")}, xN = items per call, cN = concurrent callers`;
  const chart = reportChart(records.filter((r) => r.batch !== RAW_BATCH), systems.map((s) => s.name), subtitle);
  const svgPath = saveResult(args, meta, "bench", "svg", renderBarChart(chart));
  process.stdout.write(`\nresults: ${jsonPath}\nchart:   ${svgPath}\n`);
}

await main();
