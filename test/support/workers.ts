// Spawns test/support/http-worker.ts roles as child processes and collects their stdout
// lines, so a test can wait for a line ("listening ...") and read the whole log at the end.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const WORKER = fileURLToPath(new URL("./http-worker.ts", import.meta.url));

export interface Worker {
  readonly child: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Resolves with the first line matching, now or later; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<string>;
  /** Resolves when `count` lines match. */
  waitForCount(pattern: RegExp, count: number): Promise<void>;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Everything written to stderr so far. */
  stderr(): string;
}

/** Starts a worker role; `script` is http-worker.ts unless another worker file is named. */
export function startWorker(role: string, args: Record<string, unknown>, script = WORKER): Worker {
  const child = spawn(process.execPath, ["--import", "tsx", script, role, JSON.stringify(args)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let stderr = "";
  let buffered = "";
  let done = false;
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
    for (const listener of [...listeners]) listener();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => {
      done = true;
      for (const listener of [...listeners]) listener();
      resolve(code ?? signal ?? "unknown");
    });
  });
  function waitUntil<T>(check: () => T | undefined, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        const found = check();
        if (found !== undefined) {
          listeners.delete(listener);
          resolve(found);
        } else if (done) {
          listeners.delete(listener);
          reject(new Error(`${role} exited before ${what}; stderr:\n${stderr}`));
        }
      };
      listeners.add(listener);
      listener();
    });
  }
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitFor: (pattern) => waitUntil(() => lines.find((l) => pattern.test(l)), `printing ${pattern}`),
    waitForCount: (pattern, count) =>
      waitUntil(() => (lines.filter((l) => pattern.test(l)).length >= count ? true : undefined), `printing ${count} × ${pattern}`).then(() => undefined),
  };
}

/** Waits for a worker to exit and fails with its log when it did not end with "done". */
export async function finished(worker: Worker): Promise<void> {
  const code = await worker.exited;
  if (code !== 0 || worker.lines.at(-1) !== "done") {
    throw new Error(`worker exited with ${code}; last lines: ${worker.lines.slice(-5).join(" | ")}; stderr:\n${worker.stderr()}`);
  }
}
