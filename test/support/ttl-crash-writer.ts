// A child process for test/durability/dict-ttl-crash.test.ts. It opens the store with fsync durability
// and works on one dict with an entry TTL, writing one line to its log file for every
// operation it starts and every answer it gets, with a synchronous write() before the next
// operation starts: a line written is in the kernel, so SIGKILL cannot lose it, and the
// order of the lines in the file is the order in which things happened in this process.
// It prints READY to stdout once the setup is durable; the parent SIGKILLs it later.
//
//   S <op> <ms> <version> <key> [<key> ...]   put (one key) or update (several keys, one
//                                             version for all) started at <ms> (Date.now())
//   A <op> <ms>                               that write was acknowledged at <ms>
//   R <op> <ms> <key>                         a read (get or contains) of <key> started
//   Q <op> <ms> <0|1>                         that read answered: 1 = present, 0 = missing
//
// Keys, all under "c<cycle>-" so that every cycle has its own:
//   w0 w1 w2   each put again and again with the next version (kept alive by writes)
//   u0 u1 u2   updated together again and again, one version for the three
//   o<n>       put once (value n), one every ONCE_EVERY_MS, never touched again: they expire
//              while the writer runs, some are swept by it, the most recent ones are not
//   r0 r1 r2   put once before READY, then only read: r0 and r1 by get, r2 by contains,
//              each every READ_EVERY_MS. Only the refresh of the reads keeps them alive.

import { openSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { open } from "../../index.ts";

const [dir, cycle, ttlArg, logPath] = [process.argv[2]!, process.argv[3]!, process.argv[4]!, process.argv[5]!];
const TTL = Number(ttlArg);
const ONCE_EVERY_MS = 100;
const READ_EVERY_MS = 40;

const logFd = openSync(logPath, "w");
const out = (line: string): void => void writeSync(logFd, line + "\n");
const store = await open({ path: dir, durability: "fsync" });
const d = await store.dicts.fromName<string, number>("ttl", { createIfMissing: true, entryTtlMs: TTL });
const key = (name: string): string => `c${cycle}-${name}`;
let ops = 0;

async function write(version: number, keys: string[]): Promise<void> {
  const op = ops++;
  out(`S ${op} ${Date.now()} ${version} ${keys.join(" ")}`);
  if (keys.length === 1) await d.put(keys[0]!, version);
  else await d.update(keys.map((k) => [k, version] as [string, number]));
  out(`A ${op} ${Date.now()}`);
}

async function read(k: string, how: "get" | "contains"): Promise<void> {
  const op = ops++;
  out(`R ${op} ${Date.now()} ${k}`);
  const present = how === "get" ? (await d.get(k)) !== undefined : await d.contains(k);
  out(`Q ${op} ${Date.now()} ${present ? 1 : 0}`);
}

/**
 * Nearly back to back, so that a batch is often waiting behind the one being written when
 * the kill comes (what an acknowledgement given too early would lose); the 1 ms pause keeps
 * the log and the CPU use of the writer moderate.
 */
async function writeForever(keys: string[]): Promise<never> {
  for (let version = 0; ; version++) {
    await write(version, keys);
    await sleep(1);
  }
}

async function writeOnce(): Promise<never> {
  for (let n = 0; ; n++) {
    await write(n, [key(`o${n}`)]);
    await sleep(ONCE_EVERY_MS);
  }
}

async function readForever(k: string, how: "get" | "contains"): Promise<never> {
  for (;;) {
    await read(k, how);
    await sleep(READ_EVERY_MS);
  }
}

const readKept = [key("r0"), key("r1"), key("r2")];
for (const k of readKept) await write(0, [k]);
process.stdout.write("READY\n");
await Promise.all([
  writeForever([key("w0")]),
  writeForever([key("w1")]),
  writeForever([key("w2")]),
  writeForever([key("u0"), key("u1"), key("u2")]),
  writeOnce(),
  readForever(readKept[0]!, "get"),
  readForever(readKept[1]!, "get"),
  readForever(readKept[2]!, "contains"),
]);
