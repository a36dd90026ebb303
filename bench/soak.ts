// `npm run bench:soak [-- --quick]`: memory over a long run. Larder's embedded engine and,
// as the baseline, raw classic-level doing the same writes by hand, each in its own process,
// run the same churn (queue put/get over 5,000 partitions, dict overwrites, small batches)
// for 40 rounds of 128,000 steps (10 with --quick). RSS after each round's GC is the figure:
// a long-running server must level off, not grow with the number of operations. Growth is
// the median of the last 5 rounds minus the median of the 5 rounds up to the middle.
//
// It found two real leaks: classic-level 3.0.0 never frees its copy of a zero-length value,
// and the ttl index used to write empty values (RSS grew ~4.5 MiB per round, without
// bound); and the store kept every handle fromName() ever returned.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "./lib/args.ts";
import { tempDir } from "./lib/cleanup.ts";
import { saveResult } from "./lib/program.ts";
import { Progress } from "./lib/progress.ts";
import { runMeta } from "./lib/results.ts";
import { printTable, type Row } from "./lib/table.ts";
import { TARGET_COLUMNS, targetRows } from "./lib/targets.ts";

const CHILD = fileURLToPath(new URL("./lib/soak-child.ts", import.meta.url));
/** RSS may grow this much over the second half of the run: caches and LevelDB's memtables fill in the first half. */
const GROWTH_MAX_MIB = 32;
/** The JS heap after a full GC holds only live state, which this workload keeps constant. */
const HEAP_GROWTH_MAX_MIB = 2;

interface Sample {
  round: number;
  rss: number;
  heapUsed: number;
}

const args = parseArgs();
const rounds = args.quick ? 10 : 40;
const meta = runMeta("bench/soak.ts", args.quick, 0);
const systems = ["larder", "level"] as const;
const progress = new Progress(systems.length * rounds);

function runChild(system: string): Promise<Sample[]> {
  const dir = tempDir(`soak-${system}`);
  return new Promise<Sample[]>((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, "--expose-gc", CHILD, `--child=${system}`, `--dir=${dir.path}`, `--rounds=${rounds}`], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const samples: Sample[] = [];
    let pending = "";
    let err = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        const sample = JSON.parse(line) as Sample;
        samples.push(sample);
        progress.begin(`soak: ${system} round ${sample.round}/${rounds}, RSS ${mib(sample.rss)}`);
      }
    });
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    child.once("error", reject);
    // "close", not "exit": the last JSON lines may still be in the pipe when the process exits.
    child.once("close", (code) => {
      dir.remove();
      if (code === 0 && samples.length === rounds) resolve(samples);
      else reject(new Error(`soak child ${system} exited with ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`));
    });
  });
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

const results: Record<string, Sample[]> = {};
for (const system of systems) results[system] = await runChild(system);
progress.end();

const rows: Row[] = [];
const every = Math.max(1, Math.floor(rounds / 10));
for (let i = 0; i < rounds; i++) {
  if ((i + 1) % every !== 0 && i !== 0) continue;
  const l = results.larder![i]!;
  const r = results.level![i]!;
  rows.push([String(l.round), String(l.round * 64 * 2_000), mib(l.rss), `${(l.heapUsed / 2 ** 20).toFixed(1)} MiB`, mib(r.rss)]);
}
printTable(
  [{ title: "round" }, { title: "steps so far" }, { title: "Larder RSS" }, { title: "Larder JS heap" }, { title: "raw level RSS" }],
  rows,
);
process.stdout.write("\n");

/**
 * Growth over the second half: the median of the last few rounds minus the median of the
 * few rounds up to the middle. RSS moves by 10-20 MiB from round to round (LevelDB's
 * memtables fill and flush), so single rounds would make a noisy figure; a leak of a few
 * MiB per round still shows as tens of MiB.
 */
function growth(samples: Sample[], field: "rss" | "heapUsed"): number {
  const window = Math.max(1, Math.floor(samples.length / 8));
  const median = (part: Sample[]): number => {
    const sorted = part.map((x) => x[field]).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  const mid = Math.floor(samples.length / 2);
  return (median(samples.slice(-window)) - median(samples.slice(mid - window, mid))) / 2 ** 20;
}
const larderGrowth = growth(results.larder!, "rss");
const levelGrowth = growth(results.level!, "rss");
const heapGrowth = growth(results.larder!, "heapUsed");
const targets = [
  {
    target: "soak: Larder RSS growth over the second half (embedded, buffered)",
    measured: `${larderGrowth.toFixed(1)} MiB (raw level ${levelGrowth.toFixed(1)} MiB)`,
    threshold: `< ${GROWTH_MAX_MIB} MiB`,
    pass: larderGrowth < GROWTH_MAX_MIB,
  },
  {
    target: "soak: Larder JS heap growth over the second half, after GC",
    measured: `${heapGrowth.toFixed(2)} MiB`,
    threshold: `< ${HEAP_GROWTH_MAX_MIB} MiB`,
    pass: heapGrowth < HEAP_GROWTH_MAX_MIB,
  },
];
printTable(TARGET_COLUMNS, targetRows(targets));
const path = saveResult(args, meta, "soak", "json", { meta, rounds, results, targets });
process.stdout.write(`\nresults: ${path}\n`);
