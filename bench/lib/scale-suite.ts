// The scale run (issue 2): a store holding 1,000,000 queue items over 10,000 partitions and
// a 1,000,000-key dict must open in under a second with RSS under 200 MB, and `len()`
// must not scan. The data set is built once, in a child process, into a temp folder; a
// second, fresh child opens it and measures, so RSS is that of a process that did nothing
// but open the store. --quick builds a tenth of it.

import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./cleanup.ts";
import { formatBytes, formatMs } from "./format.ts";
import type { Column, Row } from "./table.ts";
import type { TargetCheck } from "./targets.ts";

const CHILD = fileURLToPath(new URL("./scale-child.ts", import.meta.url));

export interface ScaleSize {
  readonly items: number;
  readonly partitions: number;
  readonly keys: number;
}

export const SCALE_FULL: ScaleSize = { items: 1_000_000, partitions: 10_000, keys: 1_000_000 };
export const SCALE_QUICK: ScaleSize = { items: 100_000, partitions: 1_000, keys: 100_000 };

interface Timed {
  ms: number;
  value: number;
}

export interface ScaleRecord {
  readonly size: ScaleSize;
  readonly dir?: string;
  readonly diskBytes?: number;
  readonly build?: { buildMs: number; queueBuildMs: number };
  readonly measure?: {
    openMs: number;
    handlesMs: number;
    rssBeforeOpenBytes: number;
    rssAfterOpenBytes: number;
    rssAfterLenBytes: number;
    maxRssBytes: number;
    firstLenMs: number;
    queueTotal: Timed;
    queuePartition: Timed;
    dictLen: Timed;
    dictScan: Timed;
    rawScan: Timed;
  };
  readonly error?: string;
}

function runChild(argv: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, CHILD, ...argv], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (code === 0 && line.startsWith("{")) resolve(JSON.parse(line));
      else reject(new Error(`scale child ${argv[0]} exited with ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`));
    });
  });
}

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

export async function scaleSuite(options: { size: ScaleSize; keep: boolean; onStep?: (label: string) => void }): Promise<ScaleRecord> {
  const { size } = options;
  const dir = tempDir("scale");
  try {
    options.onStep?.(`scale: building ${size.items.toLocaleString("en")} items / ${size.partitions.toLocaleString("en")} partitions / ${size.keys.toLocaleString("en")} keys`);
    const build = await runChild(["--child=build", `--dir=${dir.path}`, `--items=${size.items}`, `--partitions=${size.partitions}`, `--keys=${size.keys}`]);
    const diskBytes = folderBytes(dir.path);
    options.onStep?.("scale: opening in a fresh process");
    const measure = await runChild(["--child=measure", `--dir=${dir.path}`, `--partitions=${size.partitions}`]);
    return { size, ...(options.keep ? { dir: dir.path } : {}), diskBytes, build, measure };
  } catch (error) {
    return { size, error: (error as Error).message };
  } finally {
    if (!options.keep) dir.remove();
  }
}

export const SCALE_COLUMNS: readonly Column[] = [
  { title: "scale figure", align: "left" },
  { title: "value" },
  { title: "note", align: "left" },
];

export function scaleRows(r: ScaleRecord): Row[] {
  const m = r.measure;
  const data = `${r.size.items.toLocaleString("en")} items / ${r.size.partitions.toLocaleString("en")} partitions / ${r.size.keys.toLocaleString("en")} keys`;
  if (r.error !== undefined || m === undefined || r.build === undefined) return [["scale run", "failed", r.error ?? "no figures"]];
  const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(3)}% of the raw scan`;
  return [
    ["data set", formatBytes(r.diskBytes ?? 0), `${data}, on disk`],
    ["build (buffered, not a target)", formatMs(r.build.buildMs), `queue part ${formatMs(r.build.queueBuildMs)}`],
    ["open()", formatMs(m.openMs), "fresh process, fsync mode"],
    ["RSS after open", formatBytes(m.rssAfterOpenBytes), `before open ${formatBytes(m.rssBeforeOpenBytes)}; after len ${formatBytes(m.rssAfterLenBytes)}`],
    ["fromName() of queue and dict", formatMs(m.handlesMs), ""],
    ["queue len({ total }) first call", formatMs(m.firstLenMs), `= ${m.queueTotal.value.toLocaleString("en")}`],
    ["queue len({ total }) median", formatMs(m.queueTotal.ms), pct(m.queueTotal.ms, m.rawScan.ms)],
    ["queue len({ partition }) median", formatMs(m.queuePartition.ms), `= ${m.queuePartition.value}`],
    ["dict len() median", formatMs(m.dictLen.ms), `= ${m.dictLen.value.toLocaleString("en")}; ${pct(m.dictLen.ms, m.rawScan.ms)}`],
    ["dict keys() scan (API)", formatMs(m.dictScan.ms), `${m.dictScan.value.toLocaleString("en")} keys`],
    ["raw LevelDB key scan of the folder", formatMs(m.rawScan.ms), `${m.rawScan.value.toLocaleString("en")} keys`],
    ["max RSS of the measuring process", formatBytes(m.maxRssBytes), "includes the scans"],
  ];
}

/** The scale targets; at --quick size they are checked against the same thresholds (easier). */
export function scaleTargets(r: ScaleRecord): TargetCheck[] {
  const m = r.measure;
  const lenMs = m === undefined ? undefined : Math.max(m.queueTotal.ms, m.queuePartition.ms, m.dictLen.ms, m.firstLenMs);
  return [
    {
      target: "scale: open() of the full data set",
      measured: m === undefined ? "-" : formatMs(m.openMs),
      threshold: "< 1 s",
      pass: m === undefined ? undefined : m.openMs < 1000,
    },
    {
      target: "scale: RSS right after open()",
      measured: m === undefined ? "-" : formatBytes(m.rssAfterOpenBytes),
      threshold: "< 200 MB",
      pass: m === undefined ? undefined : m.rssAfterOpenBytes < 200 * 1e6,
    },
    {
      target: "scale: len() does not scan (slowest len vs raw key scan)",
      measured: m === undefined || lenMs === undefined ? "-" : `${formatMs(lenMs)} vs ${formatMs(m.rawScan.ms)}`,
      threshold: "< 1% of the scan",
      pass: m === undefined || lenMs === undefined ? undefined : lenMs < m.rawScan.ms / 100,
    },
  ];
}
