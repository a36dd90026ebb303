// The scale run's child process (started by lib/scale-suite.ts, never by hand). Two modes:
//   --child=build   --dir=D --items=N --partitions=P --keys=K
//       fills an empty folder: N queue items spread evenly over P partitions of queue
//       "scale", and K keys in dict "scale"; buffered durability and big batches
//       (putMany per partition, update of 10,000 entries), since only the result matters.
//   --child=measure --dir=D --partitions=P
//       in a fresh process: time `open()`, RSS right after it, `len()` of the whole queue,
//       of one partition and of the dict, then the same counts by an explicit scan (the
//       dict's keys() through the API, and every LevelDB key of the folder, raw).
// Each mode prints one JSON line on stdout.

import { randomBytes } from "node:crypto";
import { ClassicLevel } from "classic-level";
import { parseArgs } from "./args.ts";
import { nowMs } from "./runner.ts";

const VALUE_BYTES = 100;
const DICT_UPDATE_ENTRIES = 10_000;
const BUILD_CONCURRENCY = 8;
const LEN_REPEATS = 5;
const NAME = "scale";

const args = parseArgs();
const mode = args.extra.get("child");
const dir = args.extra.get("dir")!;
const partitions = Number(args.extra.get("partitions"));

export function partitionName(i: number): string {
  return `p${String(i).padStart(6, "0")}`;
}

async function build(): Promise<unknown> {
  const { open } = await import("../../dist/index.js");
  const items = Number(args.extra.get("items"));
  const keys = Number(args.extra.get("keys"));
  const perPartition = Math.ceil(items / partitions);
  const values = Array.from({ length: 64 }, () => randomBytes(VALUE_BYTES));
  const t0 = nowMs();
  const store = await open({ path: dir, durability: "buffered", limits: { queuePartitionItemsMax: Math.max(5_000, perPartition) } });
  const q = await store.queues.fromName<Uint8Array>(NAME, { createIfMissing: true });
  const d = await store.dicts.fromName<string, Uint8Array>(NAME, { createIfMissing: true });
  let next = 0;
  const fillPartitions = async () => {
    for (let p = next++; p < partitions; p = next++) {
      const batch = Array.from({ length: perPartition }, (_, i) => values[(p + i) % values.length]!);
      await q.putMany(batch, { partition: partitionName(p), partitionTtlMs: Infinity });
    }
  };
  await Promise.all(Array.from({ length: BUILD_CONCURRENCY }, fillPartitions));
  const queueMs = nowMs() - t0;
  for (let first = 0; first < keys; first += DICT_UPDATE_ENTRIES) {
    const entries: Array<[string, Uint8Array]> = [];
    for (let k = first; k < Math.min(keys, first + DICT_UPDATE_ENTRIES); k++) entries.push([`key-${k}`, values[k % values.length]!]);
    await d.update(entries);
  }
  await store.close();
  return { mode: "build", items: perPartition * partitions, partitions, keys, queueBuildMs: queueMs, buildMs: nowMs() - t0 };
}

async function timeMedian(fn: () => Promise<number>): Promise<{ ms: number; value: number }> {
  const times: number[] = [];
  let value = 0;
  for (let i = 0; i < LEN_REPEATS; i++) {
    const t0 = nowMs();
    value = await fn();
    times.push(nowMs() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, value };
}

async function measure(): Promise<unknown> {
  const { open } = await import("../../dist/index.js");
  const rssBeforeOpenBytes = process.memoryUsage().rss;
  const t0 = nowMs();
  const store = await open({ path: dir });
  const openMs = nowMs() - t0;
  const rssAfterOpenBytes = process.memoryUsage().rss;
  const t1 = nowMs();
  const q = await store.queues.fromName(NAME);
  const d = await store.dicts.fromName(NAME);
  const handlesMs = nowMs() - t1;
  const firstLenT0 = nowMs();
  const firstQueueTotal = await q.len({ total: true });
  const firstLenMs = nowMs() - firstLenT0;
  const queueTotal = await timeMedian(() => q.len({ total: true }));
  const queuePartition = await timeMedian(() => q.len({ partition: partitionName(Math.floor(partitions / 2)) }));
  const dictLen = await timeMedian(() => d.len());
  const rssAfterLenBytes = process.memoryUsage().rss;

  const scanT0 = nowMs();
  let dictScanned = 0;
  for await (const _ of d.keys()) dictScanned++;
  const dictScanMs = nowMs() - scanT0;
  await store.close();

  const rawT0 = nowMs();
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
  await db.open();
  let rawKeys = 0;
  for await (const _ of db.keys()) rawKeys++;
  await db.close();
  const rawScanMs = nowMs() - rawT0;

  return {
    mode: "measure",
    openMs,
    handlesMs,
    rssBeforeOpenBytes,
    rssAfterOpenBytes,
    rssAfterLenBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    firstLenMs,
    queueTotal: { ...queueTotal, value: firstQueueTotal },
    queuePartition,
    dictLen,
    dictScan: { ms: dictScanMs, value: dictScanned },
    rawScan: { ms: rawScanMs, value: rawKeys },
  };
}

const result = mode === "build" ? await build() : mode === "measure" ? await measure() : undefined;
if (result === undefined) throw new Error("lib/scale-child.ts runs as a child of the scale run: --child=build|measure");
process.stdout.write(JSON.stringify(result) + "\n");
