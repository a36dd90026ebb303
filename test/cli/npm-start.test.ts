// `npm start` (the README's quick start) runs the server so that signals stop it: its script
// `exec`s node, so the server is npm's own child (no shell in between that would swallow a
// signal). SIGTERM to npm, SIGTERM to its child, and a Ctrl-C (SIGINT to the process group,
// which npm also forwards) each stop it gracefully: the folder is closed (it opens again at
// once) and the port no longer answers. Real `npm`, real signals.

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { open } from "../../index.ts";
import { alive, answersHealth, childProcesses } from "../support/processes.ts";
import { tempFolder } from "../support/remote-store.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const SLOW = { timeout: 90_000 };

interface Started {
  npm: ChildProcess;
  serverPid: number;
  url: string;
  folder: string;
  output: () => string;
  exit: Promise<[number | null, NodeJS.Signals | null]>;
  cleanup: () => Promise<void>;
}

async function npmStart(): Promise<Started> {
  const folder = await tempFolder("larder-npm-start-");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LARDER_") && !k.startsWith("npm_")));
  const npm = spawn("npm", ["start"], {
    cwd: ROOT,
    env: { ...env, LARDER_PORT: "0", LARDER_DATA: folder.path, LARDER_NO_UI: "1" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exit = once(npm, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  let output = "";
  npm.stderr!.setEncoding("utf8").on("data", (s: string) => (output += s));
  const url = await new Promise<string>((resolve, reject) => {
    npm.stdout!.setEncoding("utf8").on("data", (s: string) => {
      output += s;
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]!);
    });
    void exit.then(([code]) => reject(new Error(`npm start exited ${code}: ${output}`)));
  });
  const [server] = await childProcesses(npm.pid!);
  const serverPid = server?.pid;
  const cleanup = async () => {
    try {
      process.kill(-npm.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    await folder.remove();
  };
  return { npm, serverPid: serverPid!, url, folder: folder.path, output: () => output, exit, cleanup };
}

async function expectStoppedGracefully(s: Started): Promise<void> {
  const [code] = await s.exit;
  while (alive(s.serverPid)) await new Promise((r) => setTimeout(r, 50));
  expect(code, s.output()).toBe(0);
  expect(s.output().match(/shutting down/g), s.output()).toHaveLength(1);
  expect(await answersHealth(s.url)).toBe(false);
  const reopened = await open(s.folder); // LOCKED if the server had not closed it
  await reopened.close();
}

describe("npm start", () => {
  it("serves from npm's own child, node with the serve flags (no shell between)", SLOW, async () => {
    const s = await npmStart();
    try {
      const argv = (await readFile(`/proc/${s.serverPid}/cmdline`, "utf8")).split("\0");
      expect(argv[0]).toMatch(/node$/);
      expect(argv).toContain("--max-semi-space-size=4");
      expect(await answersHealth(s.url)).toBe(true);
    } finally {
      await s.cleanup();
    }
  });

  for (const [what, send] of [
    ["SIGTERM to the npm process", (s: Started) => s.npm.kill("SIGTERM")],
    ["SIGTERM to npm's child", (s: Started) => process.kill(s.serverPid, "SIGTERM")],
    ["a Ctrl-C (SIGINT to the process group)", (s: Started) => process.kill(-s.npm.pid!, "SIGINT")],
  ] as const) {
    it(`stops gracefully on ${what}`, SLOW, async () => {
      const s = await npmStart();
      try {
        send(s);
        await expectStoppedGracefully(s);
      } finally {
        await s.cleanup();
      }
    });
  }
});
