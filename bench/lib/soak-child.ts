// The soak run's child process (started by bench/soak.ts, never by hand). One system per
// process, so that its RSS is its own:
//   --child=larder --dir=D --rounds=R   the embedded engine, buffered: each round, 64 callers
//       each do 2,000 queue put+get pairs over 5,000 partitions (every put refills an emptied
//       partition: new partition numbers and ttl index entries), 2,000 dict puts over 50,000
//       keys, and a putMany(3)+getMany(3) through a fresh fromName() handle every tenth step;
//   --child=level --dir=D --rounds=R    raw classic-level doing the same writes by hand: the
//       item record, the partition row and the ttl entry per put, their deletes per get, one
//       dict entry per dict put.
// After each round it collects garbage and prints one JSON line: round, rss, heapUsed.

import { ClassicLevel } from "classic-level";
import { open } from "../../index.ts";
import { parseArgs } from "./args.ts";

const CALLERS = 64;
const STEPS = 2_000;
const PARTITIONS = 5_000;
const KEYS = 50_000;

const args = parseArgs();
const system = args.extra.get("child");
const dir = args.extra.get("dir")!;
const rounds = args.rounds ?? 1;
const value = Buffer.alloc(100, 1);
const gc = (globalThis as { gc?: () => void }).gc;

function report(round: number): void {
  gc?.();
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ round, rss: m.rss, heapUsed: m.heapUsed })}\n`);
}

function partitionOf(caller: number, step: number): number {
  return (caller * 7919 + step) % PARTITIONS;
}

async function larder(): Promise<void> {
  const store = await open({ path: dir, durability: "buffered" });
  const q = await store.queues.fromName("soak", { createIfMissing: true });
  const d = await store.dicts.fromName("soak", { createIfMissing: true });
  let key = 0;
  for (let round = 1; round <= rounds; round++) {
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, c) => {
        for (let i = 0; i < STEPS; i++) {
          const partition = `p${partitionOf(c, i)}`;
          await q.put(value, { partition });
          await q.get({ partition, timeoutMs: 0 });
          await d.put(`k${key++ % KEYS}`, value);
          if (i % 10 === 0) {
            // A fresh handle, as a server handling requests makes one per request.
            const fresh = await store.queues.fromName("soak");
            await fresh.putMany([value, value, value], { partition });
            await fresh.getMany(3, { partition, timeoutMs: 0 });
          }
        }
      }),
    );
    report(round);
  }
  await store.close();
}

async function level(): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer", writeBufferSize: 32 << 20 });
  await db.open();
  const mark = Buffer.from([0]);
  const row = Buffer.alloc(48, 2);
  const k = (tag: number, a: number, b: number): Buffer => {
    const out = Buffer.allocUnsafe(17);
    out[0] = tag;
    out.writeDoubleBE(a, 1);
    out.writeDoubleBE(b, 9);
    return out;
  };
  let num = 0;
  let key = 0;
  for (let round = 1; round <= rounds; round++) {
    await Promise.all(
      Array.from({ length: CALLERS }, async (_, c) => {
        for (let i = 0; i < STEPS; i++) {
          const n = num++;
          const part = partitionOf(c, i);
          const at = Date.now() + 86_400_000;
          await db.batch().put(k(0x21, n, 0), value).put(k(0x20, 1, part), row).put(k(0x30, at, n), mark).write();
          db.getSync(k(0x21, n, 0));
          await db.batch().del(k(0x21, n, 0)).put(k(0x20, 1, part), row).del(k(0x30, at, n)).write();
          await db.put(k(0x10, 1, key++ % KEYS), value);
        }
      }),
    );
    report(round);
  }
  await db.close();
}

if (system === "larder") await larder();
else if (system === "level") await level();
else throw new Error(`unknown --child=${system}`);
