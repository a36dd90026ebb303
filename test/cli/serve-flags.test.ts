// `larder serve` runs node with SERVE_NODE_FLAGS (bin/cli/node-flags.ts). The bin's shebang is
// a plain `#!/usr/bin/env node` (a kernel passes one argument to env, and BusyBox's env has
// no -S to split more); `serve` started without the flags runs itself again with them
// (bin/cli/node-flags.ts), and `npm start` passes them. These checks keep that true and run
// the bin as a real process: the serving process has the flags, one SIGTERM or one Ctrl-C
// (SIGINT to the process group) stops it gracefully, and it does not outlive a killed parent.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { SERVE_NODE_FLAGS } from "../../bin/cli/node-flags.ts";
import { alive, answersHealth, childProcesses } from "../support/processes.ts";

const ENTRY = new URL("../../bin/larder.ts", import.meta.url).pathname;
const ROOT = new URL("../..", import.meta.url).pathname;
const SLOW = { timeout: 60_000 };

function firstLine(file: string): string {
  return readFileSync(new URL(file, import.meta.url), "utf8").split("\n", 1)[0]!;
}

/** Starts `larder serve --memory --port 0` without node flags, in a process group of its own. */
async function serve(): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LARDER_") && k !== "NODE_OPTIONS"));
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, "serve", "--memory", "--port", "0"], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  let stdout = "";
  child.stdout!.setEncoding("utf8");
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (s: string) => {
      stdout += s;
      const m = /listening on (\S+)\n/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

/** The node processes whose parent is `pid`, with their command lines. */
async function nodeChildren(pid: number): Promise<Array<{ pid: number; argv: string[] }>> {
  return (await childProcesses(pid)).filter(({ argv }) => argv[0] === process.execPath || argv[0]?.endsWith("/node"));
}

describe("the node flags of larder serve", () => {
  it("the bin's shebang is `#!/usr/bin/env node`: no flags for env to split", () => {
    expect(firstLine("../../bin/larder.ts")).toBe("#!/usr/bin/env node");
  });

  it("npm start execs node with every flag of SERVE_NODE_FLAGS", () => {
    expect(SERVE_NODE_FLAGS.length).toBeGreaterThan(0);
    const start = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { scripts: { start: string } }).scripts.start;
    expect(start.split(/\s+/).slice(0, 2 + SERVE_NODE_FLAGS.length)).toEqual(["exec", "node", ...SERVE_NODE_FLAGS]);
  });

  it("serve started without the flags serves from a node that has them; one SIGTERM stops both processes, status 0", SLOW, async () => {
    const { child, url, stderr } = await serve();
    const [server] = await nodeChildren(child.pid!);
    expect(server, "the serving child process").toBeDefined();
    expect(server!.argv.slice(1, 1 + SERVE_NODE_FLAGS.length)).toEqual([...SERVE_NODE_FLAGS]);
    expect(await answersHealth(url)).toBe(true);
    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code, stderr()).toBe(0);
    expect(stderr()).toMatch(/SIGTERM: shutting down/);
    expect(alive(server!.pid)).toBe(false);
    expect(await answersHealth(url)).toBe(false);
  });

  it("a Ctrl-C (SIGINT to the whole process group) is one graceful stop, not two signals: status 0", SLOW, async () => {
    const { child, url, stderr } = await serve();
    process.kill(-child.pid!, "SIGINT");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code, stderr()).toBe(0);
    expect(stderr().match(/shutting down/g)).toHaveLength(1);
    expect(await answersHealth(url)).toBe(false);
  });

  it("the serving child does not outlive a parent killed with SIGKILL", SLOW, async () => {
    const { child, url } = await serve();
    const [server] = await nodeChildren(child.pid!);
    child.kill("SIGKILL");
    await once(child, "exit");
    while (alive(server!.pid)) await new Promise((r) => setTimeout(r, 50));
    expect(await answersHealth(url)).toBe(false);
  });
});
