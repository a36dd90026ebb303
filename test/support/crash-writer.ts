// A child process for test/durability/crash.test.ts. It opens the store with fsync durability and runs
// producers, consumers and dict writers at once, writing one line to its log file for every
// acknowledged operation, with a synchronous write() before the next operation starts: a
// line written is in the kernel, so SIGKILL cannot lose it. (stdout is not safe for this:
// a pipe that is full makes Node queue lines in the process, and they die with it.) It
// prints READY to stdout once it runs; the parent SIGKILLs it at a random moment.
//
//   P <partition> <seq>        put of item <seq> into <partition> acknowledged
//   G <partition> <seq> ...    get returned these items, in order
//   D <key> <version>          dict put of <version> under <key> acknowledged
//   U <version> <k1> <k2> ...  dict update of all keys to <version> acknowledged

import { openSync, writeSync } from "node:fs";
import { open } from "../../index.ts";

const [dir, cycle, producers, logPath] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4] ?? 4), process.argv[5]!];
const logFd = openSync(logPath, "w");
const store = await open({ path: dir, durability: "fsync" });
const q = await store.queues.fromName<{ p: string; seq: number }>("crash", { createIfMissing: true });
const d = await store.dicts.fromName<string, number>("crash", { createIfMissing: true });
const out = (line: string): void => void writeSync(logFd, line + "\n");

async function produce(partition: string): Promise<never> {
  for (let seq = 0; ; seq++) {
    if (seq % 3 === 2) {
      await q.putMany([{ p: partition, seq }, { p: partition, seq: seq + 1 }], { partition });
      out(`P ${partition} ${seq}`);
      out(`P ${partition} ${seq + 1}`);
      seq++;
    } else {
      await q.put({ p: partition, seq }, { partition });
      out(`P ${partition} ${seq}`);
    }
  }
}

async function consume(partition: string): Promise<never> {
  for (;;) {
    const items = await q.getMany(3, { partition });
    out(`G ${partition} ${items.map((i) => i.seq).join(" ")}`);
  }
}

async function writeDict(key: string): Promise<never> {
  for (let version = 0; ; version++) {
    await d.put(key, version);
    out(`D ${key} ${version}`);
  }
}

async function updateDict(keys: string[]): Promise<never> {
  for (let version = 0; ; version++) {
    await d.update(keys.map((k) => [k, version] as [string, number]));
    out(`U ${version} ${keys.join(" ")}`);
  }
}

process.stdout.write("READY\n");
const work: Array<Promise<never>> = [];
for (let i = 0; i < producers; i++) {
  const partition = `c${cycle}-p${i}`;
  work.push(produce(partition), consume(partition));
  work.push(writeDict(`c${cycle}-k${i}`));
}
work.push(updateDict([`c${cycle}-u0`, `c${cycle}-u1`, `c${cycle}-u2`]));
await Promise.all(work);
