// Starts lib/server-child.ts in a child process and reads back its URL; stops it with
// SIGTERM (graceful close), or SIGKILL at exit if the bench dies first.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { onCleanup } from "./cleanup.ts";

const CHILD = fileURLToPath(new URL("./server-child.ts", import.meta.url));
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * `nodeFlags`: extra node flags for the child (Larder's server runs with those of `larder serve`).
 * `root`: another checkout whose bench/lib/server-child.ts (and so its dist/) runs instead of this one's.
 */
export function startServerProcess(argv: readonly string[], nodeFlags: readonly string[] = [], root?: string): Promise<ServerProcess> {
  const script = root === undefined ? CHILD : `${root}/bench/lib/server-child.ts`;
  const child = spawn(process.execPath, [...process.execArgv, ...nodeFlags, script, ...argv], { stdio: ["pipe", "pipe", "pipe"] });
  const undo = onCleanup(() => child.kill("SIGKILL"));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    undo();
  };
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`server child not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      void stop();
      reject(new Error(`${error.message}${stderr ? `: ${stderr.trim().split("\n").slice(-3).join(" | ")}` : ""}`));
    };
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n")[0]!;
      if (!out.includes("\n")) return;
      clearTimeout(timer);
      try {
        resolve({ url: (JSON.parse(line) as { url: string }).url, pid: child.pid!, stop });
      } catch {
        fail(new Error(`server child printed ${JSON.stringify(line)}`));
      }
    });
    child.once("exit", (code, signal) => fail(new Error(`server child exited (${code ?? signal}) before it was ready`)));
  });
}
