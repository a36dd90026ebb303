// deploy/: the Dockerfile and the systemd unit run `larder serve` directly with node and
// SERVE_NODE_FLAGS (never npm or a shell that would keep SIGTERM from the server), and
// both health checks run deploy/health.mjs, which is run here against a real server. The
// unit goes through `systemd-analyze verify` where it is installed. The image is not
// built: this machine's docker has no daemon.

import { execFile, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { SERVE_NODE_FLAGS } from "../../bin/cli/node-flags.ts";
import { startServer } from "../../server/index.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const read = (file: string) => readFileSync(`${ROOT}${file}`, "utf8");
const run = promisify(execFile);

/** Dockerfile instructions of the final stage, continuation lines joined. */
function finalStage(): Array<[string, string]> {
  const lines = read("deploy/Dockerfile").replace(/\\\n/g, " ").split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const steps = lines.map((l) => [l.split(/\s+/, 1)[0]!.toUpperCase(), l.slice(l.indexOf(" ") + 1).trim()] as [string, string]);
  const last = steps.map(([op]) => op).lastIndexOf("FROM");
  return steps.slice(last);
}

async function health(port: string): Promise<number> {
  try {
    await run(process.execPath, [`${ROOT}deploy/health.mjs`], { env: { ...process.env, LARDER_PORT: port } });
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

describe("deploy/Dockerfile", () => {
  const steps = finalStage();
  const one = (op: string) => steps.filter(([o]) => o === op).map(([, rest]) => rest);

  it("CMD runs larder serve with node and the serve flags, exec form (node is PID 1)", () => {
    const [cmd] = one("CMD");
    expect(JSON.parse(cmd!)).toEqual(["node", ...SERVE_NODE_FLAGS, "dist/bin/larder.js", "serve"]);
  });

  it("configures serve from the environment, keeps data in a volume, has a health check", () => {
    const env = one("ENV").join(" ");
    for (const name of ["LARDER_HOST=0.0.0.0", "LARDER_PORT=7070", "LARDER_DATA=/data"]) expect(env).toContain(name);
    expect(one("VOLUME")).toEqual(["/data"]);
    expect(one("USER")).toEqual(["node"]);
    const [check] = one("HEALTHCHECK");
    expect(JSON.parse(check!.slice(check!.indexOf("CMD") + 3))).toEqual(["node", "deploy/health.mjs"]);
    expect(one("COPY").some((c) => c.endsWith("deploy/health.mjs ./deploy/health.mjs"))).toBe(true);
  });
});

describe("deploy/larder.service", () => {
  const unit = read("deploy/larder.service");
  const value = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]!);

  it("ExecStart runs larder serve with node and the serve flags; the start waits for health", () => {
    const [exec] = value("ExecStart");
    const argv = exec!.split(/\s+/);
    expect(argv.slice(0, 1 + SERVE_NODE_FLAGS.length)).toEqual(["/usr/bin/node", ...SERVE_NODE_FLAGS]);
    expect(argv.slice(-2)).toEqual(["/opt/larder/node_modules/larder-db/dist/bin/larder.js", "serve"]);
    expect(value("ExecStartPost")[0]).toContain("/opt/larder/node_modules/larder-db/deploy/health.mjs");
    expect(value("KillSignal")).toEqual(["SIGTERM"]);
    expect(value("Environment")[0]).toContain("LARDER_DATA=/var/lib/larder");
  });

  const verify = spawnSync("systemd-analyze", ["--version"]).status === 0;
  it.runIf(verify)("passes systemd-analyze verify", async () => {
    await run("systemd-analyze", ["verify", `${ROOT}deploy/larder.service`]);
  });
  if (!verify) it.skip("systemd-analyze verify (systemd-analyze is not installed)", () => {});
});

describe("deploy/health.mjs", () => {
  it("exits 0 against a serving server and 1 once it is closed", { timeout: 30_000 }, async () => {
    const server = await startServer({ memory: true, port: 0 });
    const port = new URL(server.url).port;
    expect(await health(port)).toBe(0);
    await server.close();
    expect(await health(port)).toBe(1);
  });

  it("ships in the package, so that the unit's path exists after npm install", () => {
    expect((JSON.parse(read("package.json")) as { files: string[] }).files).toContain("deploy");
  });
});
