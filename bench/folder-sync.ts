// `npm run bench:folder-sync [-- --quick]`: what the data folder's fsyncs (issue 16,
// engine/storage.ts FolderSync) cost. A/B in one run, alternating: "with" is the engine as
// it ships (one fstat of the folder per synced batch, a folder fsync after a log switch);
// "without" skips that per-batch check (afterWrite answers "nothing to sync"), as before
// the fix. fsync durability, 64 callers, 100-byte items: queue put, and putMany(100).
// Each pair is measured on fresh folders; the table gives the median and range of rounds.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open } from "../index.ts";
import { FolderSync } from "../engine/storage.ts";
import { parseArgs } from "./lib/args.ts";
import { BENCH_LIMITS } from "./lib/larder-limits.ts";
import { run } from "./lib/runner.ts";
import { printTable } from "./lib/table.ts";

const args = parseArgs();
const durationMs = args.durationMs ?? (args.quick ? 300 : 2000);
const ROUNDS = args.quick ? 2 : 5;
const CALLERS = 64;
const ITEM = { url: "x".repeat(80), n: 1 };

const checked = FolderSync.prototype.afterWrite;
const unchecked = function (this: FolderSync): Promise<void> | undefined {
  return undefined;
};

type Scenario = "put" | "putMany(100)";

async function measure(scenario: Scenario, variant: "with" | "without"): Promise<number> {
  FolderSync.prototype.afterWrite = variant === "with" ? checked : unchecked;
  const dir = mkdtempSync(join(tmpdir(), "larder-bench-folder-"));
  const store = await open({ path: dir, durability: "fsync", limits: BENCH_LIMITS });
  try {
    const q = await store.queues.fromName<typeof ITEM>("bench", { createIfMissing: true });
    const batch = Array.from({ length: 100 }, () => ITEM);
    const m = await run({
      callers: CALLERS,
      itemsPerOp: scenario === "put" ? 1 : 100,
      durationMs,
      op: async () => {
        if (scenario === "put") await q.put(ITEM);
        else await q.putMany(batch);
      },
    });
    return m.itemsPerSec;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    FolderSync.prototype.afterWrite = checked;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const rows: string[][] = [];
for (const scenario of ["put", "putMany(100)"] as const) {
  const results = { with: [] as number[], without: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so that drift on a shared machine falls on both.
    const order = round % 2 === 0 ? (["with", "without"] as const) : (["without", "with"] as const);
    for (const variant of order) results[variant].push(await measure(scenario, variant));
    process.stderr.write(".");
  }
  const a = median(results.with);
  const b = median(results.without);
  rows.push([
    `fsync ${scenario} x${CALLERS}`,
    fmt(b),
    `${fmt(Math.min(...results.without))}-${fmt(Math.max(...results.without))}`,
    fmt(a),
    `${fmt(Math.min(...results.with))}-${fmt(Math.max(...results.with))}`,
    `${(a / b).toFixed(2)}x`,
  ]);
}
process.stderr.write("\n");
printTable(
  [
    { title: "scenario", align: "left" },
    { title: "without items/s" },
    { title: "range" },
    { title: "with items/s" },
    { title: "range" },
    { title: "with/without" },
  ],
  rows,
);
process.stdout.write(`\n${ROUNDS} rounds of ${durationMs} ms each, alternating; medians.\n`);
