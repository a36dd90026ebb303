// A child process for test/durability/power-cut.test.ts. It opens a store on the lazyfs
// mount and writes, logging every attempt before it starts and every acknowledgement once
// it resolves, with a synchronous write() to a log file outside the mount (a line written
// is in the kernel: a SIGKILL cannot lose it). The parent SIGKILLs it, cuts the power
// (drops what is unsynced), and checks the store against the log.
//
//   argv: <folder> <log file> <round> <durability> <workload>
//   workloads: mixed   queue puts and putMany from several producers, getMany consumers,
//                      dict puts and a three-key update, small values
//              switch  60 KB dict puts and queue items, so that LevelDB fills its memtable
//                      and starts a new log; prints SWITCH when a new NNNNNN.log appears
//              create  small puts into a store this process creates
//              reserve RESERVE_ITEMS items put first (queue "power-reserve"), then consumers
//                      that reserve 5 at a time with a long lease and, by (seq + deliveries)
//                      % 3, ack them (q.ack of the batch), release them, or keep them
//
// Log lines:
//   p <partition> <seq> <n>        put of items seq..seq+n-1 attempted
//   P <partition> <seq> <n>        ... acknowledged
//   G <partition> <seq> ...        get returned these items, in order
//   d <key> <version>              dict put attempted;  D <key> <version>  acknowledged
//   u <version> <k1> <k2> <k3>     update attempted;    U ...              acknowledged
//   I <n>                          reserve: items 0..n-1 put and acknowledged
//   R <seq> <deliveries> <leaseEndsAt ms>   reserve returned the item
//   a <seq>  ack attempted;  A <seq>  acknowledged;  l <seq>  release attempted;  L <seq>  ...
//
// stdout: READY once the store is open, ACK after the first acknowledged write, SWITCH.

import { openSync, readdirSync, writeSync } from "node:fs";
import type { Durability } from "../../../proto/api.ts";
import { open } from "../../../index.ts";
import { dictValue, queueItem, type DictValue, type QueueItem } from "./power-values.ts";
import { RESERVE_BATCH, RESERVE_ITEMS, RESERVE_LEASE_MS, RESERVE_PARTITION, RESERVE_QUEUE, reserveFate } from "./reserve-power.ts";

const [dir, logPath, round, durability, workload] = process.argv.slice(2) as [string, string, string, Durability, string];
const logFd = openSync(logPath, "w");
const out = (line: string): void => void writeSync(logFd, line + "\n");
const store = await open({ path: dir, durability });
const q = await store.queues.fromName<QueueItem>("power", { createIfMissing: true });
const d = await store.dicts.fromName<string, DictValue>("power", { createIfMissing: true });
process.stdout.write("READY\n");
let acked = false;
function ack(line: string): void {
  out(line);
  if (!acked) {
    acked = true;
    process.stdout.write("ACK\n");
  }
}

async function produce(partition: string, bytes: number, maxBatch: number): Promise<never> {
  for (let seq = 0; ; ) {
    const n = 1 + ((seq * 7) % maxBatch);
    const items = Array.from({ length: n }, (_, i) => queueItem(partition, seq + i, bytes));
    out(`p ${partition} ${seq} ${n}`);
    if (n === 1) await q.put(items[0]!, { partition });
    else await q.putMany(items, { partition });
    ack(`P ${partition} ${seq} ${n}`);
    seq += n;
  }
}

async function consume(partition: string): Promise<never> {
  for (;;) {
    const items = await q.getMany(3, { partition });
    ack(`G ${partition} ${items.map((i) => i.seq).join(" ")}`);
  }
}

async function writeDict(key: string, bytes: number): Promise<never> {
  for (let version = 0; ; version++) {
    out(`d ${key} ${version}`);
    await d.put(key, dictValue(key, version, bytes));
    ack(`D ${key} ${version}`);
  }
}

/** New keys every time: a lost put at a log switch shows as a missing key. */
async function writeNewKeys(prefix: string, bytes: number): Promise<never> {
  for (let i = 0; ; i++) {
    const key = `${prefix}-${i}`;
    out(`d ${key} 0`);
    await d.put(key, dictValue(key, 0, bytes));
    ack(`D ${key} 0`);
  }
}

async function updateDict(keys: string[]): Promise<never> {
  for (let version = 0; ; version++) {
    out(`u ${version} ${keys.join(" ")}`);
    await d.update(keys.map((k) => [k, dictValue(k, version, 64)] as [string, DictValue]));
    ack(`U ${version} ${keys.join(" ")}`);
  }
}

/** The reserve workload's items, put before any consumer starts. */
async function putReserveItems(): Promise<void> {
  const rq = await store.queues.fromName<QueueItem>(RESERVE_QUEUE, { createIfMissing: true });
  for (let seq = 0; seq < RESERVE_ITEMS; seq += 100) {
    await rq.putMany(Array.from({ length: 100 }, (_, i) => queueItem(RESERVE_PARTITION, seq + i, 100)), { partition: RESERVE_PARTITION });
  }
  out(`I ${RESERVE_ITEMS}`);
}

async function reserveConsume(): Promise<never> {
  const rq = await store.queues.fromName<QueueItem>(RESERVE_QUEUE);
  for (;;) {
    const jobs = await rq.reserve(RESERVE_BATCH, { partition: RESERVE_PARTITION, leaseMs: RESERVE_LEASE_MS });
    for (const j of jobs) out(`R ${j.value.seq} ${j.deliveries} ${j.leaseEndsAt.getTime()}`);
    const acks = jobs.filter((j) => reserveFate(j.value.seq, j.deliveries) === "ack");
    if (acks.length > 0) {
      for (const j of acks) out(`a ${j.value.seq}`);
      await rq.ack(acks);
      for (const j of acks) ack(`A ${j.value.seq}`);
    }
    for (const j of jobs) {
      if (reserveFate(j.value.seq, j.deliveries) !== "release") continue;
      out(`l ${j.value.seq}`);
      await j.release();
      ack(`L ${j.value.seq}`);
    }
  }
}

function logNames(): string[] {
  return readdirSync(dir).filter((name) => name.endsWith(".log")).sort();
}

async function watchLogs(): Promise<never> {
  const first = logNames().join(" ");
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const now = logNames();
    if (now.join(" ") !== first && now.length > 0 && now[now.length - 1]! > first.split(" ").pop()!) {
      process.stdout.write(`SWITCH ${now.join(",")}\n`);
      await new Promise(() => {});
    }
  }
}

const work: Array<Promise<never>> = [];
const r = `r${round}`;
if (workload === "mixed") {
  for (let i = 0; i < 3; i++) {
    work.push(produce(`${r}-p${i}`, 200, 5), consume(`${r}-p${i}`), writeDict(`${r}-k${i}`, 300));
  }
  work.push(updateDict([`${r}-u0`, `${r}-u1`, `${r}-u2`]));
} else if (workload === "switch") {
  work.push(watchLogs(), produce(`${r}-big`, 60_000, 2));
  for (let i = 0; i < 3; i++) work.push(writeNewKeys(`${r}-w${i}`, 60_000));
} else if (workload === "reserve") {
  await putReserveItems();
  for (let i = 0; i < 4; i++) work.push(reserveConsume());
  // Consumers that run out of items wait without a timer: keep the process alive for the kill.
  setInterval(() => {}, 1_000);
} else if (workload === "create") {
  work.push(produce(`${r}-p0`, 100, 3), writeNewKeys(`${r}-c`, 100));
} else {
  throw new Error(`unknown workload ${workload}`);
}
await Promise.all(work);
