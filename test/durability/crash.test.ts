// Durability under SIGKILL: a child process writes with fsync durability and reports every
// acknowledged operation; the parent kills it at a random moment, reopens the folder and
// checks that every acknowledged write is there, that no item was delivered twice, and that
// FIFO order holds. Several kill-and-reopen cycles run on the same folder.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { open } from "../../index.ts";

const WRITER = new URL("../support/crash-writer.ts", import.meta.url).pathname;
const PRODUCERS = 3;
const CYCLES = 4;

interface Log {
  puts: Map<string, number>; // partition -> highest acknowledged seq
  gets: Map<string, number[]>; // partition -> seqs returned by acknowledged gets, in order
  dict: Map<string, number>; // key -> highest acknowledged version
  update: { version: number; keys: string[] } | undefined;
}

function parse(stdout: string): Log {
  const log: Log = { puts: new Map(), gets: new Map(), dict: new Map(), update: undefined };
  for (const line of stdout.split("\n")) {
    const [kind, a, ...rest] = line.split(" ");
    if (kind === "P") log.puts.set(a!, Math.max(log.puts.get(a!) ?? -1, Number(rest[0])));
    if (kind === "G") log.gets.set(a!, [...(log.gets.get(a!) ?? []), ...rest.map(Number)]);
    if (kind === "D") log.dict.set(a!, Math.max(log.dict.get(a!) ?? -1, Number(rest[0])));
    if (kind === "U") log.update = { version: Number(a), keys: rest };
  }
  return log;
}

/** Runs the writer until a random SIGKILL; resolves with its log of acknowledged operations. */
function runAndKill(dir: string, cycle: number): Promise<string> {
  const logPath = `${dir}.cycle${cycle}.log`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir, String(cycle), String(PRODUCERS), logPath], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if (!killTimer && stdout.includes("READY")) {
        killTimer = setTimeout(() => child.kill("SIGKILL"), 300 + Math.floor(Math.random() * 900));
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") {
        resolve(readFileSync(logPath, "utf8"));
        rmSync(logPath, { force: true });
      }
      else reject(new Error(`writer exited by itself (code ${code}): ${stdout.slice(-500)}`));
    });
  });
}

describe("crash: SIGKILL during fsync writes, then reopen", () => {
  const dir = mkdtempSync(join(tmpdir(), "larder-crash-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`keeps every acknowledged write, delivers nothing twice, keeps FIFO, over ${CYCLES} kill cycles`, async () => {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const log = parse(await runAndKill(dir, cycle));
      expect(log.puts.size, "the writer acknowledged puts before it was killed").toBeGreaterThan(0);

      const store = await open({ path: dir });
      try {
        const q = await store.queues.fromName<{ p: string; seq: number }>("crash");
        const d = await store.dicts.fromName<string, number>("crash");
        let lengths = 0;
        for (const [partition, lastAcked] of log.puts) {
          const gotten = log.gets.get(partition) ?? [];
          const length = await q.len({ partition });
          lengths += length;
          const remaining = length === 0 ? [] : (await q.getMany(length, { partition, timeoutMs: 0 })).map((i) => i.seq);
          expect(remaining.length).toBe(length);
          // FIFO, nothing twice: acknowledged gets came in order, the rest is a consecutive run after them.
          gotten.forEach((seq, i) => expect(seq, `${partition} get #${i}`).toBe(i));
          remaining.forEach((seq, i) => expect(seq, `${partition} remaining #${i}`).toBe(remaining[0]! + i));
          const firstRemaining = remaining[0] ?? Infinity;
          expect(firstRemaining, `${partition}: an acknowledged get's item is still queued`).toBeGreaterThanOrEqual(gotten.length);
          // Items between the last acknowledged get and the first remaining one were taken by a get
          // that was cut off by the kill: at most one getMany(3).
          if (remaining.length > 0) expect(firstRemaining - gotten.length).toBeLessThanOrEqual(3);
          // Every acknowledged put is there (or was consumed).
          const lastPresent = remaining.length > 0 ? remaining[remaining.length - 1]! : gotten.length - 1 + 3;
          expect(lastPresent, `${partition}: acknowledged put ${lastAcked} lost`).toBeGreaterThanOrEqual(lastAcked);
        }
        expect(await q.len({ total: true })).toBe(lengths);
        for (const [key, version] of log.dict) {
          expect(await d.get(key), `dict ${key}`).toBeGreaterThanOrEqual(version);
        }
        if (log.update) {
          const values = await Promise.all(log.update.keys.map((k) => d.get(k)));
          expect(values[0], "update is atomic").toBeGreaterThanOrEqual(log.update.version);
          expect(new Set(values).size, "update is atomic: all keys carry one version").toBe(1);
        }
        let counted = 0;
        for await (const _ of d.keys()) counted++;
        expect(await d.len(), "dict count matches its entries after recovery").toBe(counted);
      } finally {
        await store.close();
      }
    }
  }, 120_000);
});
