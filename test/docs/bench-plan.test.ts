// `npm run bench` (bench/all.ts) as docs/benchmarks.md promises it, checked without running
// a benchmark: `--dry-run` lists the steps and the estimate printed at the start. By
// default the main scenarios with every baseline, estimated within 5 minutes even on a
// busy machine; `--full` the whole matrix; `--only` narrows the systems.

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseArgs } from "../../bench/lib/args.ts";
import { ALL_SYSTEMS, allPlan, estimate } from "../../bench/lib/all-plan.ts";

const ROOT = new URL("../../", import.meta.url);
const run = promisify(execFile);
const FIVE_MINUTES_MS = 5 * 60_000;
const EVERYTHING = { redis: true, postgres: true };
const BASELINES = ["level-fsync", "level-buffered", "bare-http", "redis-always", "redis-none"];

async function dryRun(...flags: string[]): Promise<{ steps: string[]; left: string[]; estimateLine: string; stderr: string }> {
  const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "bench/all.ts", "--dry-run", ...flags], { cwd: ROOT });
  const lines = stdout.trim().split("\n");
  const estimateLine = lines.at(-1)!;
  const left = lines.filter((l) => l.startsWith("left out: "));
  return { steps: lines.filter((l) => l !== estimateLine && !left.includes(l)), left, estimateLine, stderr };
}

/** "3 min 20 s" from the estimate line, in ms: [expected, on a busy machine]. */
function estimatedMs(line: string): [number, number] {
  const all = [...line.matchAll(/(\d+) min (\d+) s/g)].map((m) => (Number(m[1]) * 60 + Number(m[2])) * 1000);
  expect(all).toHaveLength(2);
  return [all[0]!, all[1]!];
}

describe("npm run bench", () => {
  it("by default runs the main scenarios with every baseline, estimated within 5 minutes, and says so first", { timeout: 60_000 }, async () => {
    const { steps, estimateLine, stderr } = await dryRun();
    expect(stderr.split("\n")[0]).toBe(estimateLine);
    expect(estimateLine).toMatch(/^bench \(default\): \d+ steps/);
    const [ms, busyMs] = estimatedMs(estimateLine);
    expect(busyMs).toBeLessThanOrEqual(FIVE_MINUTES_MS);
    expect(ms).toBeLessThanOrEqual(busyMs);
    expect(Number(/(\d+) steps/.exec(estimateLine)![1])).toBe(steps.length);
    // Every baseline this machine has, in the matrix; the targets' rows too (HTTP x1 c64, batches of 100 x64).
    const plan = allPlan(parseArgs([]), EVERYTHING);
    for (const baseline of BASELINES) expect(plan.systems).toContain(baseline);
    for (const scenario of ["queue-put", "queue-get", "dict-put", "dict-get"]) {
      expect(steps).toContain(`larder-http-buffered-unbatched ${scenario} 100B x1 c64 (round 1/2)`);
      expect(steps).toContain(`bare-http ${scenario} 100B x1 c64 (round 1/2)`);
    }
    expect(steps).toContain("larder-http-fsync queue-put 100B x100 c64 (round 2/2)");
    expect(steps).toContain("level-fsync queue-put 100B x1000 c1");
    expect(steps.some((s) => s.includes("10KiB"))).toBe(false);
    // Issue 13: reserve + ack beside get / getMany, x1 and x100, 64 callers, fsync, embedded and HTTP.
    for (const system of ["larder-fsync", "larder-http-fsync"]) {
      for (const shape of ["x1", "x100"]) {
        for (const scenario of ["get", "reserve+ack"]) expect(steps).toContain(`reserve: ${system} ${shape} c64 ${scenario}, round 2/2`);
      }
    }
    expect(steps.some((s) => s.startsWith("wake latency: larder-http-fsync"))).toBe(true);
    expect(steps.some((s) => s.startsWith("scale: build"))).toBe(true);
  });

  it("--full runs every system, value size, batch, caller count and scenario", { timeout: 60_000 }, async () => {
    const plan = allPlan(parseArgs(["--full"]), EVERYTHING);
    expect(plan.systems).toEqual([...ALL_SYSTEMS]);
    expect(plan.shapes).toHaveLength(8);
    for (const shape of plan.shapes) expect(plan.scenarios(shape)).toEqual(["queue-put", "queue-get", "dict-put", "dict-get"]);
    const full = estimate(plan);
    const main = estimate(allPlan(parseArgs([]), EVERYTHING));
    expect(full.steps).toBeGreaterThan(3 * main.steps);
    expect(full.ms).toBeGreaterThan(FIVE_MINUTES_MS);
    const { estimateLine, left } = await dryRun("--full");
    expect(estimateLine).toMatch(/^bench \(full\): /);
    expect(left.filter((l) => l.includes("run with --full"))).toEqual([]);
  });

  it("--only narrows the systems; --skip leaves out reserve, wake and scale; what is missing is said", () => {
    const only = allPlan(parseArgs(["--only=level"]), EVERYTHING);
    expect(only.systems).toEqual(["level-fsync", "level-buffered"]);
    expect(only.reserve).toBeUndefined();
    expect(allPlan(parseArgs(["--only=larder-http-fsync"]), EVERYTHING).reserve?.systems).toEqual(["larder-http-fsync"]);
    const skip = allPlan(parseArgs(["--skip=reserve,wake,scale"]), EVERYTHING);
    expect(skip.reserve).toBeUndefined();
    expect(skip.wake).toBeUndefined();
    expect(skip.scale).toBeUndefined();
    expect(estimate(skip).ms).toBeLessThan(estimate(allPlan(parseArgs([]), EVERYTHING)).ms);
    const bare = allPlan(parseArgs([]), { redis: false, postgres: false });
    expect(bare.systems.some((s) => s.startsWith("redis") || s.includes("postgres"))).toBe(false);
    expect(bare.left.map((l) => l.system).sort()).toEqual(["larder-postgres", "larder-postgres-sync", "redis-always", "redis-none"]);
    expect(() => allPlan(parseArgs(["--full", "--quick"]), EVERYTHING)).toThrow(/cannot be used together/);
  });

  it("docs/benchmarks.md tells of the default, --full and --dry-run", () => {
    const doc = readFileSync(new URL("docs/benchmarks.md", ROOT), "utf8");
    expect(doc).toMatch(/`npm run bench` \|[^\n]*at most 5 min/);
    expect(doc).toContain("--full");
    expect(doc).toContain("--dry-run");
  });
});
