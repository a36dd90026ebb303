// Durability under power loss: a child writes with fsync durability on a lazyfs mount (a page
// cache that a power cut drops, with POSIX's strict rule that a name is durable only once
// its folder is fsync'd) and logs every acknowledged operation; the parent SIGKILLs it,
// drops everything unsynced, remounts, and checks that the store opens and that every
// acknowledged write is there exactly once, in FIFO order, with nothing invented
// (support/power-check.ts). Cuts come at random moments, right after a log switch and
// right after the store was created; a control round in buffered mode must lose
// acknowledged writes, which proves the check can see a loss. Reservations have rounds of
// their own (support/reserve-power.ts): acks stay acked, held items come back at their
// deadline with their delivery counts.

import { spawn } from "node:child_process";
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { open } from "../../index.ts";
import { LazyFs } from "./lazyfs/lazyfs.ts";
import { verify, type Verdict } from "./support/power-check.ts";
import { verifyReservations, type ReserveVerdict } from "./support/reserve-power.ts";

const WRITER = new URL("./support/power-writer.ts", import.meta.url).pathname;
/** How long a writer may take to reach its trigger (a log switch takes ~35 MB of writes). */
const TRIGGER_WAIT_MS = 60_000;

let fs: LazyFs | undefined;
let skipReason = "";
const logs = mkdtempSync(join(tmpdir(), "larder-power-logs-"));
let rounds = 0;

beforeAll(async () => {
  const started = await LazyFs.start();
  if (typeof started === "string") {
    skipReason = started;
    console.warn(`SKIPPED test/durability/power-cut: ${started}`);
  } else fs = started;
});
afterAll(async () => {
  await fs?.stop();
  rmSync(logs, { recursive: true, force: true });
});

type Trigger = "READY" | "ACK" | "SWITCH";

interface Round {
  folder: string;
  durability: "fsync" | "buffered";
  workload: "mixed" | "switch" | "create" | "reserve";
  /** The writer's stdout line after which the kill comes. */
  trigger: Trigger;
  /** The kill comes this many ms after the trigger, at random within the range. */
  delayMs: [number, number];
}

function randomIn([lo, hi]: [number, number]): number {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

/** Runs the writer until its SIGKILL; resolves with its log. */
function runAndKill(round: Round, id: number): Promise<string> {
  const logPath = join(logs, `round${id}.log`);
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", WRITER, join(fs!.mount, round.folder), logPath, String(id), round.durability, round.workload],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let stdout = "";
    let killTimer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the writer did not print ${round.trigger} within ${TRIGGER_WAIT_MS} ms: ${stdout.slice(-300)}`));
    }, TRIGGER_WAIT_MS);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      if (!killTimer && stdout.split("\n").some((line) => line.startsWith(round.trigger))) {
        clearTimeout(giveUp);
        killTimer = setTimeout(() => child.kill("SIGKILL"), randomIn(round.delayMs));
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(giveUp);
      if (signal === "SIGKILL") resolve(readFileSync(logPath, "utf8"));
      else reject(new Error(`writer exited by itself (code ${code}): ${stdout.slice(-500)}`));
    });
  });
}

/** One round: write, SIGKILL, power cut, remount, check. */
async function cutRound(round: Round): Promise<Verdict> {
  const id = rounds++;
  const log = await runAndKill(round, id);
  const cut = await fs!.cut();
  const verdict = await verify(join(fs!.mount, round.folder), log);
  console.log(
    `power cut round ${id} (${round.workload}, ${round.durability}, after ${round.trigger}): ` +
      `${verdict.acked} acknowledged writes, ${verdict.lost} lost, ${verdict.violations.length} violations, ` +
      `${cut.dirtyBytes} unsynced bytes and ${cut.undurableFolders} folders' names dropped` +
      (verdict.openError ? `; open failed: ${verdict.openError}` : ""),
  );
  return verdict;
}

/** A round of the reserve workload: write, SIGKILL, power cut, remount, check. */
async function reserveRound(folder: string, delayMs: [number, number]): Promise<ReserveVerdict> {
  const id = rounds++;
  const log = await runAndKill({ folder, durability: "fsync", workload: "reserve", trigger: "ACK", delayMs }, id);
  const cut = await fs!.cut();
  const verdict = await verifyReservations(join(fs!.mount, folder), log);
  console.log(
    `power cut round ${id} (reserve, fsync, after ACK): ${verdict.acked} items acked, ${verdict.held} held ` +
      `(${verdict.redelivered} of them redelivered), ${verdict.violations.length} violations, ${cut.dirtyBytes} unsynced bytes` +
      (verdict.openError ? `; open failed: ${verdict.openError}` : ""),
  );
  return verdict;
}

function expectIntact(verdict: Verdict): void {
  expect(verdict.openError, "the store opens after the cut").toBeUndefined();
  expect(verdict.violations).toEqual([]);
  expect(verdict.lostDetail, "every acknowledged write survives").toEqual([]);
  expect(verdict.acked, "the writer acknowledged writes before the cut").toBeGreaterThan(0);
}

/** An existing folder whose name is durable: what LevelDB itself does is all that is tested. */
function durableFolder(name: string): void {
  mkdirSync(join(fs!.mount, name));
  const fd = openSync(fs!.mount, "r");
  fsyncSync(fd);
  closeSync(fd);
}

describe("power cut: SIGKILL, drop what is unsynced, remount, reopen", () => {
  it("a store created just before the cut, in a folder that existed, opens with its acknowledged writes", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    durableFolder("created-in-existing");
    expectIntact(await cutRound({ folder: "created-in-existing", durability: "fsync", workload: "create", trigger: "ACK", delayMs: [0, 30] }));
  }, 60_000);

  it("a store created just before the cut, in a folder open() made, opens with its acknowledged writes", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    expectIntact(await cutRound({ folder: "created/by/open", durability: "fsync", workload: "create", trigger: "ACK", delayMs: [0, 30] }));
  }, 60_000);

  it("cuts at random moments keep every acknowledged queue and dict write, exactly once, in order", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    durableFolder("mixed");
    for (let i = 0; i < 3; i++) {
      expectIntact(await cutRound({ folder: "mixed", durability: "fsync", workload: "mixed", trigger: "READY", delayMs: [150, 900] }));
    }
  }, 90_000);

  it("cuts right after LevelDB switches to a new log keep the writes acknowledged into it", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    // A store that exists and was opened before: what is tested is the log switch, not creation.
    durableFolder("switch");
    await (await open({ path: join(fs.mount, "switch") })).close();
    // The window is from the switch until the old memtable's compaction writes the manifest
    // (LevelDB fsyncs the folder then): a few hundred ms here, so the cut comes early in it.
    for (let i = 0; i < 3; i++) {
      expectIntact(await cutRound({ folder: "switch", durability: "fsync", workload: "switch", trigger: "SWITCH", delayMs: [5, 40] }));
    }
  }, 120_000);

  it("reservations: acks stay acked; held items stay held until their deadline, then come back delivered once more", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    let redelivered = 0;
    for (let i = 0; i < 3; i++) {
      const folder = `reserve-${i}`;
      durableFolder(folder);
      const verdict = await reserveRound(folder, [100, 700]);
      expect(verdict.openError, "the store opens after the cut").toBeUndefined();
      expect(verdict.violations).toEqual([]);
      expect(verdict.acked, "the writer acked items before the cut").toBeGreaterThan(0);
      expect(verdict.held, "the writer held items at the cut").toBeGreaterThan(0);
      redelivered += verdict.redelivered;
    }
    expect(redelivered, "some held items had been delivered more than once").toBeGreaterThan(0);
  }, 120_000);

  it("control: buffered durability loses acknowledged writes at a cut (the check sees a loss)", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    const verdict = await cutRound({ folder: "mixed", durability: "buffered", workload: "mixed", trigger: "READY", delayMs: [300, 600] });
    expect(verdict.openError).toBeUndefined();
    expect(verdict.violations).toEqual([]);
    expect(verdict.lost, "buffered writes are in the page cache only").toBeGreaterThan(0);
  }, 60_000);
});
