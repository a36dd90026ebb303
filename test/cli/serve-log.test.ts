// The log of a real `larder serve` (docs/ops.md): every line on stderr is one JSON object
// with a level name, an ISO time and a message; `--log-level` (or LARDER_LOG_LEVEL, the flag
// winning) drops what is less severe; `--access-log` adds a line per answered request, with
// its route, status and outcome, the refused ones too. stdout stays the one `listening on`.

import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { SERVE_NODE_FLAGS } from "../../bin/cli/node-flags.ts";
import { PACKAGE_VERSION } from "../../proto/version.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ENTRY = join(ROOT, "bin", "larder.ts");
const SLOW = { timeout: 60_000 };

interface LogLine {
  level: string;
  time: string;
  msg: string;
  [field: string]: unknown;
}

interface Serving {
  url: string;
  stdout(): string;
  /** stderr so far, each line parsed (a line that is not JSON fails the test here). */
  lines(): LogLine[];
  stop(): Promise<number | null>;
}

const running: Serving[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

async function serve(flags: string[], env: Record<string, string> = {}): Promise<Serving> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LARDER_")));
  const child = spawn(process.execPath, ["--import", "tsx", ...SERVE_NODE_FLAGS, ENTRY, "serve", "--memory", "--port", "0", "--no-ui", ...flags], {
    cwd: ROOT,
    env: { ...clean, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
      const m = /listening on (http:\/\/\S+)\n/.exec(stdout);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`serve exited ${code} before listening: ${stderr}`)));
  });
  const serving: Serving = {
    url,
    stdout: () => stdout,
    lines: () =>
      stderr
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => {
          try {
            return JSON.parse(line) as LogLine;
          } catch {
            throw new Error(`a stderr line that is not JSON: ${line}`);
          }
        }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
  running.push(serving);
  return serving;
}

/** Waits until the log has a line for which `match` holds. */
async function lineWhere(s: Serving, match: (line: LogLine) => boolean): Promise<LogLine> {
  for (let i = 0; i < 200; i++) {
    const line = s.lines().find(match);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no such log line in: ${JSON.stringify(s.lines())}`);
}

const post = (url: string, path: string, token?: string) =>
  fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/msgpack", ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: new Uint8Array([0x80]), // {}
  });

describe("larder serve's log", () => {
  it("is JSON lines on stderr: listening (with the version), shutting down, stopped; no access log by default", SLOW, async () => {
    const s = await serve([]);
    const listening = await lineWhere(s, (l) => l.msg === "listening");
    expect(listening).toMatchObject({ level: "info", url: s.url, version: PACKAGE_VERSION, storage: "memory" });
    expect(listening["wire"]).toMatch(/^larder:\/\/127\.0\.0\.1:\d+$/);
    expect(new Date(listening.time).toISOString()).toBe(listening.time);
    expect((await fetch(`${s.url}/v1/health`)).status).toBe(200);
    expect((await post(s.url, "/v1/objects/list")).status).toBe(400);
    expect(await s.stop()).toBe(0);
    const messages = s.lines().map((l) => l.msg);
    expect(messages).toEqual(["listening", "SIGTERM: shutting down", "stopped"]);
    expect(s.stdout()).toBe(`listening on ${s.url}\n`);
  });

  it("--access-log logs each answered request with its route, status and outcome, refused ones too", SLOW, async () => {
    const s = await serve(["--access-log", "--token", "sesame-token"]);
    expect((await post(s.url, "/v1/objects/list", "sesame-token")).status).toBe(400);
    expect((await post(s.url, "/v1/objects/list")).status).toBe(401);
    expect((await post(s.url, "/v1/no/such/route", "sesame-token")).status).toBe(404);
    const requests = async () => {
      await lineWhere(s, (l) => l.msg === "request" && l["status"] === 404);
      return s.lines().filter((l) => l.msg === "request");
    };
    const lines = await requests();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ level: "info", method: "POST", path: "/v1/objects/list", route: "/v1/objects/list", status: 400, outcome: "INVALID", remote: "127.0.0.1" });
    expect(typeof lines[0]!["ms"]).toBe("number");
    expect(lines[1]).toMatchObject({ route: "/v1/objects/list", status: 401, outcome: "UNAUTHENTICATED" });
    expect(lines[2]).toMatchObject({ path: "/v1/no/such/route", route: "other", status: 404, outcome: "NOT_FOUND" });
  });

  it("--log-level drops the less severe lines; LARDER_LOG_LEVEL does the same, and the flag wins over it", SLOW, async () => {
    const quiet = await serve(["--log-level", "warn", "--access-log"], { LARDER_LOG_LEVEL: "debug" });
    expect((await post(quiet.url, "/v1/objects/list")).status).toBe(400);
    expect(await quiet.stop()).toBe(0);
    expect(quiet.lines()).toEqual([]);

    const fromEnv = await serve(["--access-log"], { LARDER_LOG_LEVEL: "error" });
    expect((await post(fromEnv.url, "/v1/objects/list")).status).toBe(400);
    expect(await fromEnv.stop()).toBe(0);
    expect(fromEnv.lines()).toEqual([]);

    const loud = await serve(["--log-level", "info"], { LARDER_LOG_LEVEL: "error", LARDER_ACCESS_LOG: "1" });
    expect((await post(loud.url, "/v1/objects/list")).status).toBe(400);
    await lineWhere(loud, (l) => l.msg === "request");
    expect(await loud.stop()).toBe(0);
    expect(loud.lines().map((l) => l.msg)).toEqual(["listening", "request", "SIGTERM: shutting down", "stopped"]);
  });
});
