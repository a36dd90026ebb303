// The `larder` command line, run as a real child process (through tsx, so no build is
// needed) against a real server on a free port. The cases of Modal's own CLI tests
// (py/test/cli_test.py) are here with their names, followed by Larder's own.

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect } from "../../client/index.ts";
import { startServer } from "../../server/index.ts";
import type { Store } from "../../proto/api.ts";
import type { Io } from "../../bin/cli/io.ts";
import { main } from "../../bin/cli/main.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ENTRY = join(ROOT, "bin", "larder.ts");
/** Several child processes per test on two shared cores: generous, and never a timed assertion. */
const SLOW = { timeout: 180_000 };

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of the child: ours without any LARDER_* variable, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LARDER_")));
  return { ...base, ...env };
}

/** Spawns the CLI; its stdin is `input` and then ends (empty by default, like a script's /dev/null). */
function spawnLarder(args: readonly string[], env: Record<string, string> = {}, input = "") {
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin.on("error", () => {});
  child.stdin.end(input);
  return child;
}

function finished(child: ReturnType<typeof spawnLarder>): Promise<Result> {
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

let server: { url: string; close(): Promise<void> };
let store: Store;

/** Runs `larder ...args` against the test server. */
function larder(...args: string[]): Promise<Result> {
  return finished(spawnLarder(args, { LARDER_URL: server.url }));
}

/** Like `larder`, and fails the test unless the exit status is `code`. */
async function run(args: string[], code = 0): Promise<Result> {
  const result = await larder(...args);
  if (result.code !== code) {
    throw new Error(`larder ${args.join(" ")} exited ${result.code}, expected ${code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return result;
}

beforeAll(async () => {
  server = await startServer({ memory: true, host: "127.0.0.1", port: 0 });
  store = await connect(server.url);
});

afterAll(async () => {
  await store?.close();
  await server?.close();
});

describe("Modal's CLI tests", () => {
  test("test_dict_create_list_delete", SLOW, async () => {
    await run(["dict", "create", "foo-dict"]);
    await run(["dict", "create", "bar-dict"]);
    let res = await run(["dict", "list"]);
    expect(res.stdout).toContain("foo-dict");
    expect(res.stdout).toContain("bar-dict");

    await run(["dict", "delete", "bar-dict", "--yes"]);
    res = await run(["dict", "list"]);
    expect(res.stdout).toContain("foo-dict");
    expect(res.stdout).not.toContain("bar-dict");
  });

  test("test_dict_show_get_clear", SLOW, async () => {
    const d = await store.dicts.fromName("baz-dict", { createIfMissing: true });
    await d.update({ a: 123, b: "blah" });

    let res = await run(["dict", "items", "baz-dict"]);
    expect(res.stdout).toMatch(/ Key .+ Value/);
    expect(res.stdout).toMatch(/ a .+ 123 /);
    expect(res.stdout).toMatch(/ b .+ blah /);

    res = await run(["dict", "items", "baz-dict", "1"]);
    expect(res.stdout).toMatch(/\.\.\. .+ \.\.\./);
    expect(res.stdout).not.toContain("blah");

    res = await run(["dict", "items", "baz-dict", "2"]);
    expect(res.stdout).not.toContain("...");

    res = await run(["dict", "items", "baz-dict", "--json"]);
    expect(res.stdout).toContain('"key": "a"');
    expect(res.stdout).toContain('"value": 123');
    expect(res.stdout).not.toContain("...");

    expect((await run(["dict", "get", "baz-dict", "a"])).stdout).toBe("123\n");
    expect((await run(["dict", "get", "baz-dict", "b"])).stdout).toBe("blah\n");

    await run(["dict", "clear", "baz-dict", "--yes"]);
    expect(await d.len()).toBe(0);
  });

  test("test_queue_create_list_delete", SLOW, async () => {
    await run(["queue", "create", "foo-queue"]);
    await run(["queue", "create", "bar-queue"]);
    let res = await run(["queue", "list"]);
    expect(res.stdout).toContain("foo-queue");
    expect(res.stdout).toContain("bar-queue");

    await run(["queue", "delete", "bar-queue", "--yes"]);
    res = await run(["queue", "list"]);
    expect(res.stdout).toContain("foo-queue");
    expect(res.stdout).not.toContain("bar-queue");
  });

  test("test_queue_peek_len_clear", SLOW, async () => {
    const name = "queue-who";
    const q = await store.queues.fromName(name, { createIfMissing: true });
    await q.putMany(["a", "b", "c"]);
    await q.putMany(["x", "y"], { partition: "alt" });

    expect((await run(["queue", "peek", name])).stdout).toBe("a\n");
    expect((await run(["queue", "peek", name, "-p", "alt"])).stdout).toBe("x\n");
    expect((await run(["queue", "peek", name, "3"])).stdout).toBe("a\nb\nc\n");
    expect((await run(["queue", "peek", name, "3", "--partition", "alt"])).stdout).toBe("x\ny\n");

    expect((await run(["queue", "len", name])).stdout).toBe("3\n");
    expect((await run(["queue", "len", name, "--partition", "alt"])).stdout).toBe("2\n");
    expect((await run(["queue", "len", name, "--total"])).stdout).toBe("5\n");

    await run(["queue", "clear", name, "--yes"]);
    expect((await run(["queue", "len", name])).stdout).toBe("0\n");
    expect((await run(["queue", "peek", name, "--partition", "alt"])).stdout).toBe("x\n");

    await run(["queue", "clear", name, "--all", "--yes"]);
    expect((await run(["queue", "len", name, "--total"])).stdout).toBe("0\n");
    expect((await run(["queue", "peek", name, "--partition", "alt"])).stdout).toBe("");
  });
});

describe("larder dict", () => {
  test("put parses JSON, else keeps the string; --string keeps the string; get prints str-like text", SLOW, async () => {
    await run(["dict", "create", "typed"]);
    await run(["dict", "put", "typed", "n", "123"]);
    await run(["dict", "put", "typed", "s", "hello world"]);
    await run(["dict", "put", "typed", "t", "--string", "123"]);
    await run(["dict", "put", "typed", "o", '{"a":[1,2]}']);
    await run(["dict", "put", "typed", "neg", "--", "-5"]);
    const d = await store.dicts.fromName("typed");
    expect(await d.get("n")).toBe(123);
    expect(await d.get("s")).toBe("hello world");
    expect(await d.get("t")).toBe("123");
    expect(await d.get("o")).toEqual({ a: [1, 2] });
    expect(await d.get("neg")).toBe(-5);

    expect((await run(["dict", "get", "typed", "o"])).stdout).toBe('{"a":[1,2]}\n');
    expect((await run(["dict", "get", "typed", "t", "--json"])).stdout).toBe('"123"\n');
    await d.put("big", 10n);
    expect((await run(["dict", "get", "typed", "big"])).stdout).toBe("10n\n");
  });

  test("get of a missing key prints None (KEY_NOT_FOUND with --json); of a missing dict NOT_FOUND", SLOW, async () => {
    await run(["dict", "create", "sparse"]);
    let res = await run(["dict", "get", "sparse", "nope"]);
    expect(res.stdout).toBe("None\n");
    res = await run(["dict", "get", "sparse", "nope", "--json"], 1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(/^error: KEY_NOT_FOUND: /);

    res = await run(["dict", "get", "no-such-dict", "k"], 1);
    expect(res.stderr).toMatch(/^error: NOT_FOUND: /);
  });

  test("items truncates long cells to 80 characters and '...', --all and -r", SLOW, async () => {
    const d = await store.dicts.fromName("long", { createIfMissing: true });
    await d.update(Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${String(i).padStart(2, "0")}`, i])));
    await d.put("z", "x".repeat(100));

    let res = await run(["dict", "items", "long"]);
    expect(res.stdout).toContain(" k19 ");
    expect(res.stdout).not.toContain(" k20 ");
    expect(res.stdout).toMatch(/\.\.\. .+ \.\.\./);

    res = await run(["dict", "items", "long", "--all"]);
    expect(res.stdout).toContain(` ${"x".repeat(80)}... `);
    expect(res.stdout).not.toContain("x".repeat(81));
    expect(res.stdout.trimEnd().split("\n")).toHaveLength(26 + 4);

    res = await run(["dict", "items", "long", "-r", "-a"]);
    expect(res.stdout).toContain(" 'k00' ");

    res = await run(["dict", "items", "long", "--json"]);
    const parsed = JSON.parse(res.stdout) as Array<{ key: string; value: unknown }>;
    expect(parsed).toHaveLength(26);
    expect(parsed.at(-1)).toEqual({ key: "z", value: "x".repeat(100) });
  });

  test("list --json has name, created_at and created_by", SLOW, async () => {
    await run(["dict", "create", "listed"]);
    const res = await run(["dict", "list", "--json"]);
    const rows = JSON.parse(res.stdout) as Array<Record<string, unknown>>;
    const row = rows.find((r) => r["name"] === "listed");
    expect(row).toBeDefined();
    expect(Object.keys(row!)).toEqual(["name", "created_at", "created_by"]);
    expect(row!["created_at"]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    expect(Number.isNaN(Date.parse(String(row!["created_at"])))).toBe(false);
  });

  test("create is a no-op when the dict exists; delete --allow-missing; --env separates", SLOW, async () => {
    const d = await store.dicts.fromName("kept", { createIfMissing: true });
    await d.put("k", 1);
    await run(["dict", "create", "kept"]);
    expect(await d.get("k")).toBe(1);

    let res = await run(["dict", "delete", "never-was", "--yes"], 1);
    expect(res.stderr).toMatch(/^error: NOT_FOUND: /);
    await run(["dict", "delete", "never-was", "--allow-missing"]);

    await run(["dict", "create", "envd", "-e", "staging"]);
    res = await run(["dict", "list", "--env", "staging"]);
    expect(res.stdout).toContain("envd");
    res = await run(["dict", "list"]);
    expect(res.stdout).not.toContain("envd");
  });

  test("destructive commands read their confirmation from stdin, a terminal or not: y goes ahead; no input aborts", SLOW, async () => {
    // As Modal's click prompt does: `echo y | larder dict clear d` clears, and a script whose
    // stdin is empty gets "Aborted!" and status 1, with nothing deleted.
    const d = await store.dicts.fromName("guarded", { createIfMissing: true });
    await d.put("k", 1);
    let res = await run(["dict", "clear", "guarded"], 1);
    expect(res.stderr).toBe("Are you sure you want to irrevocably delete the contents of Dict 'guarded'? [y/N]: Aborted!\n");
    res = await run(["dict", "delete", "guarded"], 1);
    expect(res.stderr).toMatch(/Aborted!\n$/);
    res = await finished(spawnLarder(["dict", "clear", "guarded"], { LARDER_URL: server.url }, "no\n"));
    expect({ code: res.code, stderr: res.stderr }).toMatchObject({ code: 1, stderr: expect.stringMatching(/Aborted!\n$/) });
    expect(await d.get("k")).toBe(1);
    res = await finished(spawnLarder(["dict", "clear", "guarded"], { LARDER_URL: server.url }, "y\n"));
    expect(res.code).toBe(0);
    expect(await d.len()).toBe(0);
  });
});

describe("larder queue", () => {
  test("put one or more values, JSON or strings, into a partition; peek --json", SLOW, async () => {
    await run(["queue", "create", "jobs"]);
    await run(["queue", "put", "jobs", "1", "two", '{"n":3}']);
    await run(["queue", "put", "jobs", "--string", "4", "-p", "side"]);
    const q = await store.queues.fromName("jobs");
    expect(await q.getMany(10, { timeoutMs: 0 })).toEqual([1, "two", { n: 3 }]);
    expect(await q.get({ partition: "side", timeoutMs: 0 })).toBe("4");

    await q.putMany(["a", 2, [3]]);
    expect((await run(["queue", "peek", "jobs", "5", "--json"])).stdout).toBe('"a"\n2\n[3]\n');
    expect(await q.len()).toBe(3);
  });

  test("list shows partitions and total size", SLOW, async () => {
    const q = await store.queues.fromName("counted", { createIfMissing: true });
    await q.putMany([1, 2, 3]);
    await q.putMany([4, 5], { partition: "p1" });
    await q.put(6, { partition: "p2" });

    let res = await run(["queue", "list"]);
    expect(res.stdout).toMatch(/ Name .+ Created at .+ Created by .+ Partitions .+ Total size /);
    expect(res.stdout).toMatch(/ counted .+ 3 .+ 6 /);

    res = await run(["queue", "list", "--json"]);
    const rows = JSON.parse(res.stdout) as Array<Record<string, unknown>>;
    expect(rows.find((r) => r["name"] === "counted")).toMatchObject({ partitions: 3, total_size: 6, created_by: null });
  });

  test("partitions lists each partition in key order with length, reserved and expiry; --json", SLOW, async () => {
    const q = await store.queues.fromName("parted", { createIfMissing: true });
    await q.putMany([1, 2, 3]);
    await q.putMany([4, 5], { partition: "zeta", partitionTtlMs: Infinity });
    // Wide characters: the table's columns still line up (string-width).
    await q.put(6, { partition: "日本" });
    await q.put(7, { partition: "alpha" });

    let res = await run(["queue", "partitions", "parted"]);
    const lines = res.stdout.trimEnd().split("\n");
    expect(lines[1]).toMatch(/ Partition .+ Length .+ Reserved .+ Expires at /);
    const body = lines.slice(3, -1);
    expect(body.map((l) => l.split("│")[1]!.trim())).toEqual(["(default)", "alpha", "zeta", "日本"]);
    expect(body[0]).toMatch(/│ 3 +│ 0 +│ \d{4}-\d\d-\d\d \d\d:\d\d/);
    expect(body[2]).toMatch(/│ 2 +│ 0 +│ never /);
    // Every line is as wide as the rule above it, in terminal columns.
    const { default: stringWidth } = await import("string-width");
    expect(new Set(lines.map((l) => stringWidth(l))).size).toBe(1);

    res = await run(["queue", "partitions", "parted", "--json"]);
    const rows = JSON.parse(res.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => r["partition"])).toEqual([null, "alpha", "zeta", "日本"]);
    expect(rows[0]).toMatchObject({ len: 3, reserved: 0 });
    expect(rows[0]!["expires_at"]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    expect(rows[2]).toEqual({ partition: "zeta", len: 2, reserved: 0, expires_at: null });

    res = await run(["queue", "partitions", "no-such-queue"], 1);
    expect(res.stderr).toMatch(/^error: NOT_FOUND: /);
  });

  test("conflicting flags are usage errors", SLOW, async () => {
    await run(["queue", "create", "flags"]);
    let res = await run(["queue", "len", "flags", "-p", "a", "--total"], 2);
    expect(res.stderr).toMatch(/^error: INVALID: /);
    res = await run(["queue", "clear", "flags", "-p", "a", "--all", "--yes"], 2);
    expect(res.stderr).toMatch(/^error: INVALID: /);
    res = await run(["queue", "peek", "flags", "many"], 2);
    expect(res.stderr).toMatch(/^error: INVALID: /);
  });
});

describe("usage and errors", () => {
  test("a failing command exits non-zero with the error code on stderr", SLOW, async () => {
    const res = await run(["queue", "len", "no-such-queue"], 1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(/^error: NOT_FOUND: .+\n$/);
  });

  test("unknown commands and options exit 2 with INVALID", SLOW, async () => {
    let res = await run(["dict", "frobnicate"], 2);
    expect(res.stderr).toMatch(/^error: INVALID: /);
    res = await run(["dict", "list", "--bogus"], 2);
    expect(res.stderr).toMatch(/^error: INVALID: .*--bogus/);
    res = await run(["dict", "get", "only-name"], 2);
    expect(res.stderr).toMatch(/^error: INVALID: missing argument KEY/);
    res = await run(["dict", "create", "bad/name"], 2);
    expect(res.stderr).toMatch(/^error: INVALID: /);
  });

  test("--help for the program, a group and a command", SLOW, async () => {
    expect((await run(["--help"])).stdout).toContain("Usage: larder COMMAND");
    expect((await run(["queue", "--help"])).stdout).toContain("peek");
    const res = await run(["queue", "peek", "--help"]);
    expect(res.stdout).toContain("Usage: larder queue peek NAME [N] [options]");
    expect(res.stdout).toContain("-p, --partition P");
  });

  test("an unreachable server is UNAVAILABLE", SLOW, async () => {
    const probe = await startServer({ memory: true, host: "127.0.0.1", port: 0 });
    const url = probe.url;
    await probe.close();
    const res = await finished(spawnLarder(["dict", "list"], { LARDER_URL: url }));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^error: UNAVAILABLE: /);
  });

  test("a server with a token refuses a client without it, and serves one with it", SLOW, async () => {
    const guarded = await startServer({ memory: true, host: "127.0.0.1", port: 0, token: "s3cret" });
    try {
      let res = await finished(spawnLarder(["queue", "create", "q"], { LARDER_URL: guarded.url }));
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/^error: UNAUTHENTICATED: /);
      res = await finished(spawnLarder(["queue", "create", "q", "--url", guarded.url, "--token", "s3cret"]));
      expect(res.code).toBe(0);
      res = await finished(spawnLarder(["queue", "len", "q"], { LARDER_URL: guarded.url, LARDER_TOKEN: "s3cret" }));
      expect(res.stdout).toBe("0\n");
    } finally {
      await guarded.close();
    }
  });
});

/** An Io whose stdin answers `answer`, as a user at a terminal would. */
function terminalIo(answer: string) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: async (t) => void out.push(t),
    err: async (t) => void err.push(t),
    stdin: Readable.from([answer]),
    env: { LARDER_URL: server.url },
  };
  return { io, out, err };
}

describe("confirmation at a terminal (in process)", () => {
  test("asks with Modal's wording; anything but y aborts with status 1; y goes ahead", SLOW, async () => {
    const d = await store.dicts.fromName("asked", { createIfMissing: true });
    await d.put("k", 1);

    const no = terminalIo("n\n");
    expect(await main(["dict", "clear", "asked"], no.io)).toBe(1);
    expect(no.err.join("")).toBe("Are you sure you want to irrevocably delete the contents of Dict 'asked'? [y/N]: Aborted!\n");
    expect(await d.len()).toBe(1);

    const yes = terminalIo("y\n");
    expect(await main(["dict", "delete", "asked"], yes.io)).toBe(0);
    expect(yes.err.join("")).toBe("Are you sure you want to irrevocably delete the Dict 'asked'? [y/N]: ");
    await expect(store.dicts.fromName("asked")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

/** Starts `larder serve ...` and resolves with the child once it printed its first line. */
async function serve(args: string[]) {
  const child = spawnLarder(["serve", ...args]);
  const done = finished(child);
  const firstLine = await new Promise<string>((resolve, reject) => {
    let seen = "";
    child.stdout.on("data", (s: string) => {
      seen += s;
      if (seen.includes("\n")) resolve(seen.slice(0, seen.indexOf("\n") + 1));
    });
    done.then((r) => reject(new Error(`serve exited ${r.code} before listening: ${r.stderr}`)), reject);
  });
  return { child, done, firstLine };
}

describe("larder serve", () => {
  test("prints `listening on http://HOST:PORT`, serves, and exits 0 on SIGTERM", SLOW, async () => {
    const { child, done, firstLine } = await serve(["--memory", "--port", "0", "--limit", "queuePartitionItemsMax=2"]);
    expect(firstLine).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+\n$/);
    const url = firstLine.slice("listening on ".length).trim();

    const env = { LARDER_URL: url };
    expect((await finished(spawnLarder(["queue", "create", "small"], env))).code).toBe(0);
    const full = await finished(spawnLarder(["queue", "put", "small", "1", "2", "3"], env));
    expect(full.stderr).toMatch(/^error: TOO_LARGE: /);

    child.kill("SIGTERM");
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(firstLine);
  });

  test("--env sets the environment of clients that name none", SLOW, async () => {
    const { child, done, firstLine } = await serve(["--memory", "--port", "0", "--env", "staging"]);
    const env = { LARDER_URL: firstLine.slice("listening on ".length).trim() };
    expect((await finished(spawnLarder(["dict", "create", "cfg"], env))).code).toBe(0);
    expect(JSON.parse((await finished(spawnLarder(["dict", "list", "--json"], env))).stdout).map((d: { name: string }) => d.name)).toEqual(["cfg"]);
    expect(JSON.parse((await finished(spawnLarder(["dict", "list", "--json", "--env", "main"], env))).stdout)).toEqual([]);
    expect(JSON.parse((await finished(spawnLarder(["dict", "list", "--json", "--env", "staging"], env))).stdout)).toHaveLength(1);
    // Messages name the environment the server chose, as they name one given with --env.
    const missing = await finished(spawnLarder(["dict", "get", "cfg", "nokey", "--json"], env));
    expect(missing.stderr).toMatch(/^error: KEY_NOT_FOUND: .*Dict 'cfg' in environment 'staging'/);
    child.kill("SIGTERM");
    expect((await done).code).toBe(0);
  });

  test("on disk: data survives a restart; SIGINT also shuts down cleanly; a second server on the folder is LOCKED", SLOW, async () => {
    const dir = await mkdtemp(join(tmpdir(), "larder-cli-"));
    try {
      const first = await serve(["--data", dir, "--port", "0", "--durability", "buffered"]);
      const env = { LARDER_URL: first.firstLine.slice("listening on ".length).trim() };
      expect((await finished(spawnLarder(["dict", "create", "kept"], env))).code).toBe(0);
      expect((await finished(spawnLarder(["dict", "put", "kept", "k", "42"], env))).code).toBe(0);

      const second = await finished(spawnLarder(["serve", "--data", dir, "--port", "0"]));
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/^error: LOCKED: /);

      first.child.kill("SIGINT");
      expect((await first.done).code).toBe(0);

      const again = await serve(["--data", dir, "--port", "0"]);
      const env2 = { LARDER_URL: again.firstLine.slice("listening on ".length).trim() };
      expect((await finished(spawnLarder(["dict", "get", "kept", "k"], env2))).stdout).toBe("42\n");
      again.child.kill("SIGTERM");
      expect((await again.done).code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("bad flags exit 2 before anything is opened", SLOW, async () => {
    let res = await finished(spawnLarder(["serve", "--memory", "--limit", "noSuchLimit=1"]));
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: INVALID: .*noSuchLimit/);
    res = await finished(spawnLarder(["serve", "--memory", "--durability", "sometimes"]));
    expect(res.code).toBe(2);
    res = await finished(spawnLarder(["serve", "--memory", "--data", "x"]));
    expect(res.code).toBe(2);
  });
});
