// `larder serve` as a real child process (bin/larder.ts through tsx), resolved once it
// prints its "listening on URL" line; stop() sends SIGTERM and waits for the exit.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ENTRY = fileURLToPath(new URL("../../bin/larder.ts", import.meta.url));

export interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Starts `larder serve --port 0 ARGS` (no token, no LARDER_POSTGRES_URL unless `env` gives them). */
export function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, "serve", "--port", "0", ...args], {
    cwd: ROOT,
    env: { ...process.env, LARDER_TOKEN: "", LARDER_POSTGRES_URL: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      out += s;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]!, stderr: () => stderr });
    });
    child.on("exit", (code) => reject(new Error(`larder serve exited ${code}: ${stderr}`)));
  });
}

export async function stop(served: Served | undefined): Promise<void> {
  if (!served || served.child.exitCode !== null || served.child.signalCode !== null) return;
  const exited = new Promise((r) => served.child.once("exit", r));
  served.child.kill("SIGTERM");
  await exited;
}
