// Durability of dict entries with a TTL (`entryTtlMs`) under SIGKILL, in real time on a real
// LevelDB folder. A child process (support/ttl-crash-writer.ts) opens the store with fsync
// durability and writes, updates and reads entries of a dict with a TTL, logging every
// operation it starts and every answer it gets; the parent SIGKILLs it at a random moment,
// reopens the folder, checks, closes it, and runs the next cycle on the same folder.
//
// From the log the parent bounds the deadline each key has on disk after the kill:
// - lower: a write acknowledged with fsync that started at t is on disk with a deadline of at
//   least t + ttl. A read (get or contains) that started at t and found the entry refreshed it
//   to at least t + ttl - step (step = min(1 s, ttl/1000): a read closer than that to the
//   stored deadline does not write). But the refresh is written without waiting for it
//   (docs/format.md), and what engine/dicts.ts and engine/commit.ts guarantee is this: when
//   the read answers, its refresh is durable already or sits in the open group-commit batch;
//   batches reach the disk in order, and any write started later goes into that batch or a
//   later one. So a refresh counts only when a write that started after the read answered
//   (a later line of the log) was acknowledged. A refresh with no acknowledged write after it
//   may be lost by the kill, and the test asks nothing of it. (It normally reaches the disk
//   with the next fsync, within milliseconds, but nothing waits for it: no time-based promise
//   such as "300 ms later it is on disk" holds when fsync is slower than that.) The writer's
//   other loops acknowledge a write every few ms, so in practice every read but those of the
//   last few ms before the kill counts.
// - upper: no write or refresh can give a key a deadline later than the time its answer came
//   (or the kill, for an operation it cut off) + ttl, nor later than the parent's own check
//   of an earlier cycle + ttl (the parent's gets refresh too).
//
// Checks, for every key of every cycle so far. Everything is observed first and judged
// after, against the clock read before the first and after the last observation, so a slow
// (loaded) machine can only make fewer keys qualify, never a check fail wrongly.
// - Phase A, right after the reopen, PAUSE_MS after the kill, before the reopened store's
//   sweeper first runs (one second after open): a key whose lower bound is PRESENT_MARGIN_MS
//   after the observations is present through get, contains, keys() and items(), with its
//   last acknowledged version or a later one whose write had started (the three update keys
//   with one version); a key whose upper bound is ABSENT_MARGIN_MS before them is absent from
//   all four. Once-written keys due after the kill cannot have been swept by the writer, so
//   these check that expired, unswept entries stay invisible. Any key present has a version
//   that was written and is not older than the last acknowledged one; len() (which sweeps
//   first) lies between the number of keys that must be present and the number keys() listed.
// - Phase B, for the read-kept keys of the cycle (not read in phase A, where get/contains
//   would refresh them): just before their lower bound, PRESENT_MARGIN_MS + B_EARLY_MS before
//   it, they must be present through keys(), get and contains. Their last write came before
//   READY and the kill at least KILL_AFTER_MIN_MS later, so without their refreshes they would
//   be past their deadline by more than ABSENT_MARGIN_MS there (asserted): only the reads keep
//   them, and a refresh lost by the kill shows unless it is one of the last ~200 ms before it.
//
// Margins: ttl 3 s. The bounds are exact (one clock, Date.now(), in both processes and the
// engine; the engine's deadline is ceil(now + ttl) with its now between the logged times), so
// the present margin (100 ms) only covers clock adjustments; the absent margin is 1 s.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { open } from "../../index.ts";

const WRITER = new URL("../support/ttl-crash-writer.ts", import.meta.url).pathname;
const TTL = 3_000;
/** A read closer than this to the stored deadline does not refresh it (engine/dicts.ts). */
const STEP = Math.min(1_000, TTL / 1_000);
const CYCLES = 4;
/**
 * Read-kept keys that must be checked present after kills (3 per cycle, less one cycle's
 * worth of phase B timers fired late on a busy machine). Until then more cycles run, up to
 * CYCLES_MAX: a loaded machine gets more tries to observe them, never a lower bar.
 */
const READ_KEPT_CHECKED_MIN = 3 * (CYCLES - 1);
const CYCLES_MAX = 8;
/** The kill comes this long after READY, plus up to KILL_SPREAD_MS. */
const KILL_AFTER_MIN_MS = 3_000;
const KILL_SPREAD_MS = 1_000;
/** Between the kill and the reopen: once-written keys due in between are expired and unswept at the check. */
const PAUSE_MS = 1_500;
const PRESENT_MARGIN_MS = 100;
const ABSENT_MARGIN_MS = 1_000;
/** Phase B observes this long before PRESENT_MARGIN_MS before the read-kept keys' lower bound. */
const B_EARLY_MS = 50;
/** The writer may run a moment after the parent read the clock and sent SIGKILL. */
const KILL_SLACK_MS = 50;

interface KeyModel {
  cycle: number;
  kind: "w" | "u" | "o" | "r";
  /** the stored deadline is at least this */
  lower: number;
  /** the stored deadline is at most this */
  upper: number;
  /** `upper` from writes alone, refreshing reads left out */
  writtenUpper: number;
  /** last acknowledged version (-1: none) */
  acked: number;
  /** last version whose write started */
  started: number;
  /** reads in the writer that found the key missing */
  missesInWriter: number;
  /** time the last read counted in `lower` answered */
  coveredReadAt: number;
}

const known = new Map<string, KeyModel>();

function model(key: string, cycle: number): KeyModel {
  let m = known.get(key);
  if (!m) {
    const kind = key.split("-")[1]![0] as KeyModel["kind"];
    m = { cycle, kind, lower: -Infinity, upper: -Infinity, writtenUpper: -Infinity, acked: -1, started: -1, missesInWriter: 0, coveredReadAt: -Infinity };
    known.set(key, m);
  }
  return m;
}

interface Op {
  line: number;
  at: number;
  write: boolean;
  version: number;
  keys: string[];
}
interface Answer {
  line: number;
  at: number;
  present: boolean;
}

/** Folds one writer log into the key models. */
function absorb(text: string, cycle: number, killedAt: number): { writes: number; reads: number } {
  const lines = text.split("\n");
  lines.pop(); // "" after the last "\n", or a line cut short by the kill
  const ops = new Map<number, Op>();
  const answers = new Map<number, Answer>();
  lines.forEach((line, i) => {
    const [tag, op, at, ...rest] = line.split(" ");
    const id = Number(op);
    if (tag === "S") ops.set(id, { line: i, at: Number(at), write: true, version: Number(rest[0]), keys: rest.slice(1) });
    else if (tag === "R") ops.set(id, { line: i, at: Number(at), write: false, version: -1, keys: [rest[0]!] });
    else if (tag === "A") answers.set(id, { line: i, at: Number(at), present: true });
    else if (tag === "Q") answers.set(id, { line: i, at: Number(at), present: rest[0] === "1" });
    else throw new Error(`bad log line ${i}: ${line}`);
  });
  // The last line of the log that starts a write which was acknowledged: every refresh queued
  // before it is durable.
  let lastAckedWriteStart = -1;
  for (const [id, op] of ops) if (op.write && answers.has(id)) lastAckedWriteStart = Math.max(lastAckedWriteStart, op.line);
  let writes = 0;
  let reads = 0;
  for (const [id, op] of ops) {
    const answer = answers.get(id);
    const latest = (answer?.at ?? killedAt + KILL_SLACK_MS) + TTL + 1;
    for (const key of op.keys) {
      const m = model(key, cycle);
      m.upper = Math.max(m.upper, latest);
      if (op.write) {
        writes++;
        m.writtenUpper = Math.max(m.writtenUpper, latest);
        m.started = Math.max(m.started, op.version);
        if (answer) {
          m.acked = Math.max(m.acked, op.version);
          m.lower = Math.max(m.lower, op.at + TTL);
        }
      } else {
        reads++;
        if (answer && !answer.present) m.missesInWriter++;
        if (answer?.present && answer.line < lastAckedWriteStart && op.at + TTL - STEP > m.lower) {
          m.lower = op.at + TTL - STEP;
          m.coveredReadAt = answer.at;
        }
      }
    }
  }
  return { writes, reads };
}

/** Runs the writer until a random SIGKILL; resolves with its log and the kill time. */
function runAndKill(dir: string, cycle: number): Promise<{ log: string; killedAt: number; readyAt: number }> {
  const logPath = `${dir}.cycle${cycle}.log`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir, String(cycle), String(TTL), logPath], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    let readyAt = 0;
    let killedAt = 0;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if (!readyAt && stdout.includes("READY")) {
        readyAt = Date.now();
        setTimeout(() => {
          killedAt = Date.now();
          child.kill("SIGKILL");
        }, KILL_AFTER_MIN_MS + Math.floor(Math.random() * KILL_SPREAD_MS));
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL" && killedAt) {
        resolve({ log: readFileSync(logPath, "utf8"), killedAt, readyAt });
        rmSync(logPath, { force: true });
      } else reject(new Error(`writer exited by itself (code ${code}, signal ${signal}): ${stdout.slice(-500)}`));
    });
  });
}

interface Seen {
  listed: boolean;
  item: number | undefined;
  /** get and contains; not observed for the read-kept keys in phase A */
  read?: { got: number | undefined; has: boolean };
}

/** Judges one key's observations made between `from` and `to`; says what it had to be. */
function judge(key: string, m: KeyModel, seen: Seen, from: number, to: number, where: string): "present" | "absent" | undefined {
  const what = `${where}: ${key} (acked v${m.acked}, started v${m.started}, deadline in [${m.lower - to}, ${m.upper - from}] ms from the check)`;
  const got = seen.read?.got;
  for (const v of [got, seen.item]) {
    if (v === undefined) continue;
    expect(v, `${what}: a version older than the last acknowledged one`).toBeGreaterThanOrEqual(m.acked);
    expect(v, `${what}: a version that was never written`).toBeLessThanOrEqual(m.started);
  }
  if (m.lower >= to + PRESENT_MARGIN_MS) {
    expect(seen.listed, `${what}: keys() lost a live entry`).toBe(true);
    expect(seen.item, `${what}: items() lost a live entry`).not.toBeUndefined();
    if (seen.read) {
      expect(got, `${what}: get lost a live entry`).not.toBeUndefined();
      expect(seen.read.has, `${what}: contains lost a live entry`).toBe(true);
    }
    return "present";
  }
  if (m.upper <= from - ABSENT_MARGIN_MS) {
    expect(seen.listed, `${what}: keys() listed an expired entry`).toBe(false);
    expect(seen.item, `${what}: items() listed an expired entry`).toBeUndefined();
    if (seen.read) {
      expect(got, `${what}: get returned an expired entry`).toBeUndefined();
      expect(seen.read.has, `${what}: contains found an expired entry`).toBe(false);
    }
    return "absent";
  }
  return undefined;
}

describe("crash: SIGKILL while a dict with entryTtlMs is written and read, then reopen", () => {
  const dir = mkdtempSync(join(tmpdir(), "larder-ttl-crash-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`keeps live entries, never returns expired ones, keeps read refreshes, over ${CYCLES} or more kill cycles`, async () => {
    const started = Date.now();
    const summary: string[] = [];
    let readKeptChecked = 0;
    for (let cycle = 0; cycle < CYCLES || (readKeptChecked < READ_KEPT_CHECKED_MIN && cycle < CYCLES_MAX); cycle++) {
      const { log, killedAt, readyAt } = await runAndKill(dir, cycle);
      const counts = absorb(log, cycle, killedAt);
      expect(counts.writes, "the writer acknowledged writes before it was killed").toBeGreaterThan(0);
      const readKept = ["r0", "r1", "r2"].map((n) => `c${cycle}-${n}`);
      const readKeptLower = Math.min(...readKept.map((k) => known.get(k)!.lower));
      await sleep(killedAt + PAUSE_MS - Date.now());

      const openedAt = Date.now();
      const store = await open({ path: dir });
      const fromA = Date.now();
      const seen = new Map<string, Seen>();
      let toA: number, fromB: number, toB: number, len: number, listedA: number;
      try {
        const d = await store.dicts.fromName<string, number>("ttl");
        // Observe. keys() and items() do not refresh; get and contains do.
        const listed = new Set<string>();
        for await (const k of d.keys()) listed.add(k);
        const items = new Map<string, number>();
        for await (const [k, v] of d.items()) items.set(k, v);
        for (const k of listed) expect(known.has(k), `keys() listed ${k}, never written`).toBe(true);
        for (const key of known.keys()) {
          const read = readKept.includes(key) ? undefined : { got: await d.get(key), has: await d.contains(key) };
          seen.set(key, { listed: listed.has(key), item: items.get(key), ...(read && { read }) });
        }
        toA = Date.now();
        len = await d.len();
        listedA = listed.size;

        // Phase B: the read-kept keys, just before their lower bound.
        await sleep(readKeptLower - PRESENT_MARGIN_MS - B_EARLY_MS - Date.now());
        fromB = Date.now();
        const listedB = new Set<string>();
        for await (const k of d.keys()) listedB.add(k);
        const itemsB = new Map<string, number>();
        for await (const [k, v] of d.items()) itemsB.set(k, v);
        for (const key of readKept) {
          seen.set(key, { listed: listedB.has(key), item: itemsB.get(key), read: { got: await d.get(key), has: await d.contains(key) } });
        }
        toB = Date.now();
      } finally {
        await store.close();
      }
      const closedAt = Date.now();

      // Judge.
      const tally = { present: 0, absent: 0, r: 0, wu: 0, oLive: 0, oGone: 0, oUnswept: 0, old: 0 };
      for (const [key, m] of known) {
        const isB = readKept.includes(key);
        const verdict = judge(key, m, seen.get(key)!, isB ? fromB : fromA, isB ? toB : toA, `cycle ${cycle}, phase ${isB ? "B" : "A"}`);
        if (verdict === "present") {
          tally.present++;
          if (m.kind === "r") tally.r++;
          else if (m.kind === "o") tally.oLive++;
          else tally.wu++;
        }
        if (verdict === "absent") {
          tally.absent++;
          if (m.cycle < cycle) tally.old++;
          else if (m.kind === "o") {
            tally.oGone++;
            // Due after the kill: the writer's sweeper cannot have removed it, and the reopened
            // store's first pass comes a second after open.
            if (m.lower > killedAt + KILL_SLACK_MS) tally.oUnswept++;
          }
        }
      }
      // len() came after the gets, which only refresh, and sweeps first.
      expect(len, `cycle ${cycle}: len() counts no more than keys() listed`).toBeLessThanOrEqual(listedA);
      expect(len, `cycle ${cycle}: len() counts every entry that must be there`).toBeGreaterThanOrEqual(tally.present - tally.r);
      const u = ["u0", "u1", "u2"].map((n) => seen.get(`c${cycle}-${n}`)!.read!.got);
      if (u.some((v) => v !== undefined)) expect(new Set(u).size, `cycle ${cycle}: update is atomic: ${u.join(",")}`).toBe(1);

      // The test means something: only the refreshes kept r0..r2 (their last write is past its
      // deadline by more than the margin at phase B), live keys were checked present, and
      // expired, unswept once-written keys were checked absent.
      for (const key of readKept) {
        expect(known.get(key)!.writtenUpper, `cycle ${cycle}: ${key} would be gone without its refreshes`).toBeLessThanOrEqual(fromB - ABSENT_MARGIN_MS);
      }
      expect(tally.wu, `cycle ${cycle}: rewritten keys checked present`).toBeGreaterThan(0);
      expect(tally.oLive, `cycle ${cycle}: recent once-written keys checked present`).toBeGreaterThan(0);
      expect(tally.oUnswept, `cycle ${cycle}: expired, unswept once-written keys checked absent`).toBeGreaterThan(0);
      readKeptChecked += tally.r;
      const lastCovered = Math.max(...readKept.map((k) => known.get(k)!.coveredReadAt));
      summary.push(
        `cycle ${cycle}: killed ${killedAt - readyAt} ms after READY; ${counts.writes} writes, ${counts.reads} reads logged; ` +
          `last counted refresh ${killedAt - lastCovered} ms before the kill; open ${fromA - openedAt} ms, phase A ${toA - fromA} ms; ` +
          `phase B ${readKeptLower - toB} ms before the read-kept lower bound; ` +
          `present: ${tally.present} (read-kept ${tally.r}, rewritten ${tally.wu}, once ${tally.oLive}); ` +
          `absent: ${tally.absent} (once ${tally.oGone}, due after the kill ${tally.oUnswept}; older cycles ${tally.old}); len ${len}`,
      );
      // The parent's gets refreshed whatever they found.
      for (const m of known.values()) m.upper = Math.max(m.upper, closedAt + TTL + 1);
    }
    console.log(`${summary.join("\n")}\ntotal ${Date.now() - started} ms`);
    // The writer itself never found a read-kept key missing, and every one was checked present
    // after each kill (phase B misses a key only if its timer fired more than B_EARLY_MS late).
    for (const [key, m] of known) {
      if (m.kind === "r") expect(m.missesInWriter, `${key}: the writer's own reads found it missing`).toBe(0);
    }
    expect(readKeptChecked, "read-kept keys checked present after the kills").toBeGreaterThanOrEqual(READ_KEPT_CHECKED_MIN);
  }, 120_000);
});
