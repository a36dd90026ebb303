// `npm run bench:wire-cpu [-- --calls=N --rounds=R]`: where the time of a call goes, for
// issue 20's single-item figures. The same calls as bench:wire (fsync, 64 callers, 100-byte
// values) over Larder's framed transport (`larder://`) and against Redis `appendfsync
// always` through ioredis, a fixed number of calls each, and for each: calls per second,
// the client's CPU per call (this process: the driver loop, which is the same for both, and
// the client library) and the server's CPU per call (its process, all threads, from
// /proc/PID/stat, and of that its main thread, /proc/PID/task/PID/stat; clock ticks of
// 10 ms, so the calls must be many). Rounds alternate the two systems; the table shows each figure's median.
// `--baseline=DIR` adds larder:// as built in DIR (another checkout, built: its client and
// server), to compare two builds in the same run. Run it through /work/team/benchslot; the
// load average is printed around the run.

import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { randomBytes } from "node:crypto";
import { parseArgs } from "./lib/args.ts";
import { formatRate, formatRatio } from "./lib/format.ts";
import { larderPrimitives, openRemote } from "./lib/larder.ts";
import { RedisSystem, findRedisServer, REDIS_MISSING_NOTE } from "./lib/redis.ts";
import { printTable, type Row } from "./lib/table.ts";
import type { Primitives } from "./lib/workload.ts";

const args = parseArgs();
const CALLS = Number(args.extra.get("calls") ?? (args.quick ? 5_000 : 60_000));
const ROUNDS = args.rounds ?? (args.quick ? 1 : 3);
const CALLERS = 64;
const KEYS = 1_000;
const CLOCK_TICKS_PER_SEC = 100;

/** CPU time so far, in µs, of a process (all its threads) or, given `tid`, of one of its threads. */
function cpuUs(pid: number, tid?: number): number {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  const fields = readFileSync(path, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SEC;
}

type Op = "queue put" | "queue get" | "dict put" | "dict get" | "putMany(100)" | "getMany(100)";
const OPS: readonly Op[] = ["queue put", "queue get", "dict put", "dict get", "putMany(100)", "getMany(100)"];

interface Measure {
  callsPerSec: number;
  clientUs: number;
  /** The server process, all threads. */
  serverUs: number;
  /** Of which its main thread (Node's event loop; Redis's one command thread). */
  serverMainUs: number;
}

const values = Array.from({ length: 64 }, () => randomBytes(100));
const batch = Array.from({ length: 100 }, (_, i) => values[i % values.length]!);

/** `calls` calls of `op`, CALLERS at a time. */
async function measure(p: Primitives, serverPid: number, op: Op, calls: number): Promise<Measure> {
  const one: (i: number) => Promise<unknown> = {
    "queue put": () => p.queuePut([values[0]!]),
    "queue get": () => p.queueGet(1),
    "dict put": (i: number) => p.dictPut([[`k${i % KEYS}`, values[i % values.length]!]]),
    "dict get": (i: number) => p.dictGet([`k${i % KEYS}`]),
    "putMany(100)": () => p.queuePut(batch),
    "getMany(100)": () => p.queueGet(100),
  }[op];
  let next = 0;
  const server0 = cpuUs(serverPid);
  const main0 = cpuUs(serverPid, serverPid);
  const client0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      for (let i = next++; i < calls; i = next++) await one(i);
    }),
  );
  const ms = performance.now() - started;
  const client = process.cpuUsage(client0);
  return {
    callsPerSec: (calls / ms) * 1000,
    clientUs: (client.user + client.system) / calls,
    serverUs: (cpuUs(serverPid) - server0) / calls,
    serverMainUs: (cpuUs(serverPid, serverPid) - main0) / calls,
  };
}

/** One round on one system: every op in order (the puts fill what the gets take). */
async function round(p: Primitives, serverPid: number): Promise<Map<Op, Measure>> {
  const out = new Map<Op, Measure>();
  for (const op of OPS) {
    const calls = op.endsWith("(100)") ? Math.ceil(CALLS / 10) : CALLS;
    if (op === "getMany(100)") for (let i = 0; i < calls; i++) await p.queuePut(batch);
    out.set(op, await measure(p, serverPid, op, calls));
  }
  return out;
}

const loadBefore = loadavg();
const redisPath = findRedisServer();
if (redisPath === undefined) process.stderr.write(`${REDIS_MISSING_NOTE}\n`);
// `--baseline=DIR`: also larder:// as built in DIR (another checkout, built), to compare two builds in one run.
const baseline = args.extra.get("baseline");
const larder = await openRemote("fsync", "larder-wire-cpu", {}, ["--wire"]);
const base = baseline === undefined ? undefined : await openRemote("fsync", "larder-wire-cpu-base", {}, ["--wire"], baseline);
const redis = redisPath === undefined ? undefined : await RedisSystem.start(redisPath, "always");
const systems: Array<{ name: string; pid: number; primitives: Primitives }> = [
  { name: "larder://", pid: larder.pid, primitives: await larderPrimitives(larder.store, "cpu") },
  ...(base === undefined ? [] : [{ name: "larder:// @base", pid: base.pid, primitives: await larderPrimitives(base.store, "cpu") }]),
  ...(redis === undefined ? [] : [{ name: "redis", pid: redis.server.pid, primitives: await redis.primitives({ valueBytes: 100, batch: 1, callers: CALLERS }) }]),
];
// Warm-up: the servers' and this process's JIT, off the record.
for (const s of systems) {
  for (let i = 0; i < KEYS; i++) await s.primitives.dictPut([[`k${i}`, values[i % values.length]!]]);
  for (const op of OPS) await measure(s.primitives, s.pid, op, 2_000);
}
const results = new Map<string, Array<Map<Op, Measure>>>(systems.map((s) => [s.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const s of systems) {
    process.stderr.write(`round ${r + 1}/${ROUNDS} ${s.name}\n`);
    results.get(s.name)!.push(await round(s.primitives, s.pid));
  }
}
for (const s of systems) await s.primitives.dispose();
await larder.close();
await base?.close();
await redis?.close();
const loadAfter = loadavg();

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
function figure(system: string, op: Op, field: keyof Measure): number | undefined {
  const rounds = results.get(system);
  return rounds === undefined || rounds.length === 0 ? undefined : median(rounds.map((m) => m.get(op)![field]));
}
const us = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(1));
const names = systems.map((s) => s.name);
const rows: Row[] = OPS.map((op) => {
  const row: string[] = [op];
  for (const name of names) {
    const rate = figure(name, op, "callsPerSec");
    row.push(rate === undefined ? "-" : formatRate(rate), us(figure(name, op, "clientUs")), `${us(figure(name, op, "serverUs"))} (${us(figure(name, op, "serverMainUs"))})`);
  }
  const [l, r] = [figure("larder://", op, "callsPerSec"), figure("redis", op, "callsPerSec")];
  row.push(formatRatio(l !== undefined && r ? l / r : undefined));
  return row;
});
process.stdout.write(
  `fsync, ${CALLERS} callers, 100-byte values, ${CALLS} calls (${CALLS / 10} of the 100-item ones), median of ${ROUNDS}; ` +
    `CPU in us per call, server: all threads (main thread); ` +
    `load average ${loadBefore.map((l) => l.toFixed(1)).join(" ")} before, ${loadAfter.map((l) => l.toFixed(1)).join(" ")} after\n`,
);
printTable(
  [
    { title: "operation", align: "left" },
    ...names.flatMap((name) => [{ title: `${name} calls/s` }, { title: "client" }, { title: "server" }]),
    { title: "larder:// / redis" },
  ],
  rows,
);
