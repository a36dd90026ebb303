// What every bench program does at the end: write its records as JSON under bench/results/
// (or --out), named after the program and the start time, plus a `<program>-latest.json`.

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchArgs } from "./args.ts";
import { writeJson, writeText, type RunMeta } from "./results.ts";

export function resultsDir(args: BenchArgs): string {
  return args.out ?? fileURLToPath(new URL("../results/", import.meta.url));
}

/** Writes `<program>-<stamp>.<ext>` and `<program>-latest.<ext>`; returns the first path. */
export function saveResult(args: BenchArgs, meta: RunMeta, program: string, ext: "json" | "svg", data: unknown): string {
  const dir = resultsDir(args);
  const stamp = meta.startedAt.replace(/[:.]/g, "-");
  const path = join(dir, `${program}-${stamp}.${ext}`);
  for (const target of [path, join(dir, `${program}-latest.${ext}`)]) {
    if (ext === "json") writeJson(target, data);
    else writeText(target, data as string);
  }
  return path;
}
