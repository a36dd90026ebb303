// Child processes of the crawler (workers, the synthetic web, a Larder server) are
// TypeScript files run under tsx's loader. Each one sends a first IPC message when it is
// ready; `forkReady` resolves with that message.

import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** tsx's loader, resolved from this package so that children work from any cwd. */
const TSX_LOADER = import.meta.resolve("tsx");

/** The absolute path of a file next to this one. */
export function siblingPath(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

/** Extra node flags for every child, space-separated: `CRAWLER_CHILD_FLAGS="--cpu-prof"` profiles them. */
const CHILD_FLAGS = (process.env["CRAWLER_CHILD_FLAGS"] ?? "").split(" ").filter((flag) => flag !== "");

/** Forks `path` with `env` added; stdout and stderr go to ours. */
export function forkTypeScript(path: string, env: Record<string, string>): ChildProcess {
  return fork(path, [], {
    execArgv: [...CHILD_FLAGS, "--import", TSX_LOADER],
    env: { ...process.env, ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

/** Resolves with the child's first message; rejects if it exits first. */
export function firstMessage<M>(child: ChildProcess, what: string): Promise<M> {
  return new Promise<M>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${what} exited with code ${code} before it was ready`));
    child.once("exit", onExit);
    child.once("message", (message: M) => {
      child.off("exit", onExit);
      resolve(message);
    });
  });
}

/** Asks a child started by forkTypeScript to stop (it closes on "disconnect") and waits for it to exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.disconnect();
  await exited;
}

/** True when the module at `metaUrl` is the process's entry point. */
export function isEntryPoint(metaUrl: string): boolean {
  return process.argv[1] !== undefined && fileURLToPath(metaUrl) === process.argv[1];
}
