// The results file: what ran (machine, Node, commit, flags) and every measurement, as JSON,
// so that runs on different days or machines can be compared by a script.

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { dirname } from "node:path";

export interface RunMeta {
  readonly program: string;
  readonly startedAt: string;
  readonly node: string;
  readonly platform: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly commit: string | undefined;
  readonly quick: boolean;
  readonly durationMs: number;
}

export function runMeta(program: string, quick: boolean, durationMs: number): RunMeta {
  const cpuList = cpus();
  return {
    program,
    startedAt: new Date().toISOString(),
    node: process.version,
    platform: `${platform()} ${release()} ${arch()}`,
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? "unknown",
    memoryBytes: totalmem(),
    commit: gitCommit(),
    quick,
    durationMs,
  };
}

function gitCommit(): string | undefined {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] });
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { stdio: ["ignore", "pipe", "ignore"] });
    return commit.toString().trim() + (dirty.length > 0 ? "+dirty" : "");
  } catch {
    return undefined;
  }
}

export function writeJson(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(data, null, 2) + "\n");
}

export function writeText(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
