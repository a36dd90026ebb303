// A storage failure (docs/errors.md, INTERNAL), embedded and under a running server. The
// writes run under a file size limit (bash `ulimit -f`, with SIGXFSZ ignored), so LevelDB's
// write-ahead log fails with EFBIG once it reaches 2 MiB, the way it fails with ENOSPC on a
// full disk: a real failed write, partly on disk.
//
// Embedded: the failed call and every later one are INTERNAL until the store is reopened,
// and the reopened folder holds every acknowledged write.
//
// Server: each reopen starts a new log, so the failure comes back every dozen calls or so,
// and the server must come back each time. The calls of the failed batch get INTERNAL and
// every other call succeeds (the next call, made at once, arrives while the store reopens:
// it is answered 503 and sent again by the client until the store is back, so no two calls
// in a row fail; a reader scanning beside them never fails either); the server stays up and says what happened; afterwards the folder opened
// without the limit holds every acknowledged write, and each failed putMany whole or not
// at all.
//
// A disk that stays full (prlimit lowers the running server's limit below its log, then
// raises it): every reopen fails, so calls and health answer 503 for as long as it lasts;
// once there is room the server serves again by itself with every write kept, and an
// ephemeral object whose heartbeats were refused for longer than its lease is still there.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { open } from "../../index.ts";
import { LarderError } from "../../proto/errors.ts";
import { SERVE_NODE_FLAGS } from "../../bin/cli/node-flags.ts";
import { tempFolder } from "../support/remote-store.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ENTRY = join(ROOT, "bin", "larder.ts");
const FILE_SIZE_LIMIT_KIB = 2048;
const CALLS = 150;
const ITEMS_PER_CALL = 10;
const ITEM_BYTES = 20_000;

interface Item {
  call: number;
  j: number;
  pad: Uint8Array;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function items(call: number): Item[] {
  return Array.from({ length: ITEMS_PER_CALL }, (_, j) => ({ call, j, pad: Buffer.alloc(ITEM_BYTES, (call * ITEMS_PER_CALL + j) & 0xff) }));
}

/** bash's arguments to run node (able to import TypeScript) with `args` under a file size limit, SIGXFSZ ignored. */
function underLimit(args: string[], limitKiB: number | "unlimited" = FILE_SIZE_LIMIT_KIB): string[] {
  return ["-c", `trap "" XFSZ; ulimit -f ${limitKiB}; exec "$0" "$@"`, process.execPath, "--import", "tsx", ...args];
}

interface LimitedServer {
  readonly url: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  stderr(): string;
  running(): boolean;
  kill(signal: NodeJS.Signals): void;
}

/** `larder serve` on `folder` under a file size limit; resolves once it listens. */
async function serveLimited(folder: string, limitKiB: number | "unlimited", flags: string[] = []): Promise<LimitedServer> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LARDER_")));
  const server = spawn("bash", underLimit([...SERVE_NODE_FLAGS, ENTRY, "serve", "--data", folder, "--port", "0", ...flags], limitKiB), {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => server.on("exit", (code) => resolve(code)));
  cleanups.push(async () => {
    if (server.exitCode === null && server.signalCode === null) server.kill("SIGKILL");
    await exited;
  });
  let stderr = "";
  server.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout.setEncoding("utf8").on("data", (s: string) => {
      out += s;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`the server exited (${code}) before listening: ${stderr}`)));
  });
  // bash exec'd node, with the serve flags so that it serves in that process (no re-run): the same process.
  return {
    url,
    pid: server.pid!,
    exited,
    stderr: () => stderr,
    running: () => server.exitCode === null && server.signalCode === null,
    kill: (signal) => server.kill(signal),
  };
}

/** Runs `code` (an ES module body that may import TypeScript) under the file size limit; resolves with its stdout. */
function runLimited(code: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "bash",
      underLimit(["--input-type=module", "-e", code]),
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.on("error", reject);
    child.on("exit", (exitCode) => resolve({ code: exitCode, stdout, stderr }));
  });
}

describe("a storage failure, embedded", () => {
  it("the failed write is INTERNAL, every later call too until the store is reopened, and the reopened folder has every acknowledged write", async () => {
    const folder = await tempFolder("larder-storage-failure-embedded-");
    cleanups.push(folder.remove);
    const child = await runLimited(`
      import { open } from "./index.ts";
      const store = await open({ path: ${JSON.stringify(folder.path)} });
      const q = await store.queues.fromName("q", { createIfMissing: true });
      let call = 0;
      try {
        for (; call < 1000; call++) {
          await q.putMany(Array.from({ length: ${ITEMS_PER_CALL} }, (_, j) => ({ call, j, pad: Buffer.alloc(${ITEM_BYTES}, j) })));
          console.log("acked " + call);
        }
      } catch (err) {
        console.log("failed " + call + " " + err.code);
        for (const later of [() => q.put(1), () => q.len(), () => store.queues.fromName("q")]) {
          await later().then(() => console.log("later ok"), (e) => console.log("later " + e.code));
        }
      }
      await store.close();
    `);
    expect(child.code, child.stderr).toBe(0);
    const lines = child.stdout.trim().split("\n");
    const acked = lines.filter((l) => l.startsWith("acked ")).map((l) => Number(l.split(" ")[1]));
    expect(acked.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.startsWith("failed "))).toEqual([`failed ${acked.length} INTERNAL`]);
    expect(lines.filter((l) => l.startsWith("later "))).toEqual(["later INTERNAL", "later INTERNAL", "later INTERNAL"]);

    const store = await open({ path: folder.path });
    cleanups.push(() => store.close());
    const q = await store.queues.fromName<Item>("q");
    const calls: number[] = [];
    for await (const item of q.iterate()) if (item.j === 0) calls.push(item.call);
    // Every acknowledged putMany, in order, and the failed one whole or not at all.
    expect(calls.slice(0, acked.length)).toEqual(acked);
    expect(calls.length === acked.length || calls.length === acked.length + 1).toBe(true);
    expect(await q.len()).toBe(calls.length * ITEMS_PER_CALL);
  }, 60_000);
});

describe("a storage failure under larder serve", () => {
  it("the server reopens its store and keeps serving; every acknowledged write is kept, and a failed putMany is all or nothing", async () => {
    const folder = await tempFolder("larder-storage-failure-");
    cleanups.push(folder.remove);
    const server = await serveLimited(folder.path, FILE_SIZE_LIMIT_KIB);
    const store = await connect(server.url, { retryTimeoutMs: 20_000 });
    cleanups.push(() => store.close());
    const q = await store.queues.fromName<Item>("q", { createIfMissing: true });
    const d = await store.dicts.fromName<string, number>("d", { createIfMissing: true });
    const putAcked = new Set<number>();
    const putFailed = new Set<number>();
    const dictAcked = new Set<number>();
    // Readers beside the writer: scans wait for the pending writes, and a scan that waited
    // for the batch that failed did nothing, so it is answered 503 and sent again: it never fails.
    let writing = true;
    const readerErrors: string[] = [];
    let scans = 0;
    const readers = Array.from({ length: 3 }, async () => {
      while (writing) {
        try {
          for await (const key of d.keys()) void key;
          scans++;
        } catch (err) {
          readerErrors.push(`${(err as LarderError).code}: ${(err as Error).message}`);
        }
      }
    });
    const failures: string[] = [];
    let failedInARow = 0;
    let mostInARow = 0;
    for (let call = 0; call < CALLS; call++) {
      const before = failures.length;
      try {
        await q.putMany(items(call));
        putAcked.add(call);
        await d.put(`k${call}`, call);
        dictAcked.add(call);
      } catch (err) {
        // Only the calls of the batch that failed may fail, and they say so with INTERNAL.
        expect(err).toBeInstanceOf(LarderError);
        failures.push(`${(err as LarderError).code}: ${(err as Error).message}`);
        if (!putAcked.has(call)) putFailed.add(call);
      }
      failedInARow = failures.length > before ? failedInARow + 1 : 0;
      mostInARow = Math.max(mostInARow, failedInARow);
    }
    writing = false;
    await Promise.all(readers);
    expect(readerErrors, server.stderr()).toEqual([]);
    expect(scans).toBeGreaterThan(0);
    expect(new Set(failures.map((f) => f.split(":")[0]))).toEqual(new Set(["INTERNAL"]));
    // The call after a failed one, sent while the store reopens, is answered 503 and sent
    // again until the store is back: it never fails too.
    expect(mostInARow).toBe(1);
    // The limit was hit again and again, and the server came back every time.
    expect(failures.length).toBeGreaterThanOrEqual(3);
    const reopened = server.stderr().match(/store reopened after the storage failure/g)?.length ?? 0;
    expect(reopened).toBeGreaterThanOrEqual(3);
    expect(server.stderr()).toMatch(/storage write failed; reopening the store/);
    // Through the log (docs/ops.md): JSON lines, the failure at level error with its cause,
    // the reopen at info; and the metrics count every reopen.
    const logLines = server.stderr().trim().split("\n").map((line) => JSON.parse(line) as { level: string; msg: string; err?: { message?: string } });
    const failedLine = logLines.find((l) => l.msg.startsWith("storage write failed; reopening the store"));
    expect(failedLine).toMatchObject({ level: "error", err: { message: expect.any(String) } });
    expect(logLines.filter((l) => l.msg === "store reopened after the storage failure; serving again").every((l) => l.level === "info")).toBe(true);
    const scrape = await (await fetch(`${server.url}/metrics`)).text();
    expect(Number(/^larder_storage_reopens_total (\d+)$/m.exec(scrape)?.[1])).toBe(reopened);
    expect(server.running()).toBe(true);
    // It serves reads and writes after the last failure.
    expect(await d.get(`k${[...dictAcked].at(-1)}`)).toBe([...dictAcked].at(-1));
    await store.close();
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);

    // The folder, opened without the limit.
    const reopenedStore = await open({ path: folder.path });
    cleanups.push(() => reopenedStore.close());
    const rq = await reopenedStore.queues.fromName<Item>("q");
    const seen: Item[] = [];
    for await (const item of rq.iterate()) seen.push(item);
    expect(await rq.len()).toBe(seen.length);
    const byCall = new Map<number, Item[]>();
    for (const item of seen) byCall.set(item.call, [...(byCall.get(item.call) ?? []), item]);
    // FIFO: calls in the order they were made, each call's items in order and intact.
    expect([...byCall.keys()]).toEqual([...byCall.keys()].sort((a, b) => a - b));
    for (const [call, got] of byCall) {
      expect(got.map((i) => i.j)).toEqual(Array.from({ length: ITEMS_PER_CALL }, (_, j) => j));
      for (const item of got) expect(Buffer.from(item.pad).equals(Buffer.from(items(call)[item.j]!.pad))).toBe(true);
    }
    for (const call of putAcked) expect(byCall.has(call), `acknowledged putMany ${call} is missing`).toBe(true);
    for (const call of byCall.keys()) expect(putAcked.has(call) || putFailed.has(call), `putMany ${call} was never made`).toBe(true);
    const rd = await reopenedStore.dicts.fromName<string, number>("d");
    for (const call of dictAcked) expect(await rd.get(`k${call}`)).toBe(call);
    // And it takes writes again.
    await rq.put({ call: -1, j: 0, pad: new Uint8Array(1) });
    expect(await rq.len()).toBe(seen.length + 1);
  }, 120_000);
});

/** prlimit (util-linux) changes a running process's file size limit: the disk fills up and frees up on cue. */
const PRLIMIT = spawnSync("prlimit", ["--version"]).status === 0;

function setFileSizeLimit(pid: number, soft: string): void {
  // Soft limit only (`N:`), so that it can be raised again without privileges.
  execFileSync("prlimit", ["--pid", String(pid), `--fsize=${soft}:`]);
}

async function health(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/v1/health`);
  return { status: res.status, body: await res.text() };
}

describe.skipIf(!PRLIMIT)("a disk that stays full under larder serve (needs prlimit from util-linux)", () => {
  it("the server answers 503, health too, while it cannot reopen, serves again once there is room, and keeps the ephemeral objects whose heartbeats it refused", async () => {
    const folder = await tempFolder("larder-storage-full-");
    cleanups.push(folder.remove);
    const server = await serveLimited(folder.path, "unlimited", ["--ephemeral-expiry-ms", "3000"]);
    const store = await connect(server.url, { retryTimeoutMs: 500 });
    cleanups.push(() => store.close());
    // The ephemeral queue's client heartbeats every 2 s and retries a refused one only briefly,
    // so that after the outage the reaper (every 750 ms) would mostly come before its next
    // heartbeat, were the leases not renewed at the reopen.
    const owner = await connect(server.url, { retryTimeoutMs: 100, heartbeatIntervalMs: 2_000 });
    cleanups.push(() => owner.close());
    const q = await store.queues.fromName<Item>("q", { createIfMissing: true });
    for (let call = 0; call < 5; call++) await q.putMany(items(call));
    const eph = await owner.queues.ephemeral<number>();
    await eph.put(7);
    expect((await health(server.url)).status).toBe(200);

    // The disk is full: smaller than the log already is, so the next write fails, and so does
    // every reopen (it writes the recovered log to a table).
    setFileSizeLimit(server.pid, "4096");
    const failed = await q.put(items(99)[0]!).then(
      () => "written",
      (err: LarderError) => err.code,
    );
    expect(failed).toBe("INTERNAL");
    const down = await health(server.url);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({ code: "UNAVAILABLE" });
    // Calls did nothing and say so: the client retried them for retryTimeoutMs, then gave up.
    for (const call of [() => q.put(items(98)[0]!), () => q.len(), () => store.dicts.fromName("d", { createIfMissing: true })]) {
      await expect(call()).rejects.toMatchObject({ code: "UNAVAILABLE" });
    }
    // Longer than the ephemeral lease (3 s), during which the client's heartbeats are refused.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect((await health(server.url)).status).toBe(503);
    expect(server.stderr()).toMatch(/reopening the store failed; trying again/);

    // Room again: the server comes back by itself.
    setFileSizeLimit(server.pid, "unlimited");
    const deadline = Date.now() + 10_000;
    while ((await health(server.url)).status !== 200) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const values: Item[] = [];
    for await (const item of q.iterate()) values.push(item);
    expect(values.map((i) => `${i.call}.${i.j}`)).toEqual(Array.from({ length: 5 * ITEMS_PER_CALL }, (_, k) => `${Math.floor(k / ITEMS_PER_CALL)}.${k % ITEMS_PER_CALL}`));
    await q.put(items(100)[0]!);
    expect(await q.len()).toBe(5 * ITEMS_PER_CALL + 1);
    // The reaper has run several times since (every 750 ms); the ephemeral queue's lease was
    // renewed at the reopen, and its heartbeats keep it.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await eph.len()).toBe(1);
    expect(server.running()).toBe(true);
  }, 60_000);
});
