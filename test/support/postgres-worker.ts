// A child process for the multi-process PostgreSQL tests: `node --import tsx
// postgres-worker.ts ROLE JSON-ARGS`. Each opens the same database with open({ postgres })
// and writes one line per event to stdout; every role prints "done" last.
//
//   producer {url, queue, name, count, keepGoing?, stop?}
//                                          -> "ack <i>" after each acknowledged put of "<name>:<i>",
//                                             with keepGoing "fail <i> <code>" for a put that failed;
//                                             with stop, then puts "STOP" until one is acknowledged
//   consumer {url, queue}                  -> "got <value>" per item, "failed-get <code>" per failed
//                                             getMany(10); stops at a "STOP" item
//   skipper  {url, dict, name, keys, startAt} -> "won <key>" for each skipIfExists put it won
//   popper   {url, dict, keys, startAt}    -> "popped <key>" for each pop that got the value
//
// skipper and popper start their calls at `startAt` (ms since the epoch), so that the calls
// of several processes really overlap.
//   waiter   {url, queue, count, pollIntervalMs} -> "waiting", then "got <value>" per blocking get
//   reserving-consumer {url, queue, leaseMs} -> reserves up to 10 (lease leaseMs), holds them a moment, acks
//                                             them: "acked <value>" each, or "failed-ack <value> <code>"
//                                             each when the ack failed; stops at a "STOP" item
//   reserver {url, queue, startAt, n, releaseEvery?} -> reserves n at a time (32 calls at once) until the queue
//                                             is empty; "acked <value> <deliveries>" per item acked; with
//                                             releaseEvery k, every k-th reservation is released instead

import { open } from "../../index.ts";

const [role, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs ?? "{}") as Record<string, any>;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function untilStart(): Promise<void> {
  const wait = (args.startAt ?? 0) - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

const store = await open({ postgres: args.url, pollIntervalMs: args.pollIntervalMs } as Parameters<typeof open>[0]);
try {
  switch (role) {
    case "producer": {
      const q = await store.queues.fromName<string>(args.queue);
      for (let i = 0; i < args.count; i++) {
        try {
          await q.put(`${args.name}:${i}`);
          log(`ack ${i}`);
        } catch (err) {
          if (!args.keepGoing) throw err;
          log(`fail ${i} ${(err as { code?: string }).code ?? String(err)}`);
        }
      }
      while (args.stop) {
        try {
          await q.put("STOP");
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      break;
    }
    case "consumer": {
      const q = await store.queues.fromName<string>(args.queue);
      for (let stop = false; !stop; ) {
        let values: string[] = [];
        try {
          values = await q.getMany(10, { timeoutMs: 1_000 });
        } catch (err) {
          const code = (err as { code?: string }).code ?? String(err);
          if (code !== "QUEUE_EMPTY") log(`failed-get ${code}`);
        }
        for (const value of values) {
          if (value === "STOP") stop = true;
          else log(`got ${value}`);
        }
      }
      break;
    }
    case "skipper": {
      const d = await store.dicts.fromName<string, string>(args.dict);
      await untilStart();
      await Promise.all(
        (args.keys as string[]).map(async (key) => {
          if (await d.put(key, args.name, { skipIfExists: true })) log(`won ${key}`);
        }),
      );
      break;
    }
    case "popper": {
      const d = await store.dicts.fromName<string, string>(args.dict);
      await untilStart();
      await Promise.all(
        (args.keys as string[]).map(async (key) => {
          if ((await d.pop(key, null)) !== null) log(`popped ${key}`);
        }),
      );
      break;
    }
    case "waiter": {
      const q = await store.queues.fromName<string>(args.queue);
      log("waiting");
      for (let i = 0; i < args.count; i++) log(`got ${await q.get()}`);
      break;
    }
    case "reserving-consumer": {
      const q = await store.queues.fromName<string>(args.queue);
      for (let stop = false; !stop; ) {
        let held: Awaited<ReturnType<typeof q.reserve>> = [];
        try {
          held = await q.reserve(10, { timeoutMs: 1_000, leaseMs: args.leaseMs });
        } catch (err) {
          const code = (err as { code?: string }).code ?? String(err);
          if (code !== "QUEUE_EMPTY") log(`failed-reserve ${code}`);
        }
        if (held.length === 0) continue;
        // Held across the moment of a kill more often than not.
        await new Promise((r) => setTimeout(r, 20));
        try {
          await q.ack(held);
          for (const r of held) log(`acked ${r.value}`);
        } catch (err) {
          const code = (err as { code?: string }).code ?? String(err);
          for (const r of held) log(`failed-ack ${r.value} ${code}`);
        }
        if (held.some((r) => r.value === "STOP")) stop = true;
      }
      break;
    }
    case "reserver": {
      const q = await store.queues.fromName<string>(args.queue);
      await untilStart();
      let seen = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          for (;;) {
            const got = await q.reserve(args.n, { timeoutMs: 500, leaseMs: 60_000 }).catch((err: { code?: string }) => {
              if (err.code === "QUEUE_EMPTY") return null;
              throw err;
            });
            if (got === null) return;
            const acked = [];
            for (const r of got) {
              if (args.releaseEvery && ++seen % args.releaseEvery === 0) await r.release();
              else acked.push(r);
            }
            await q.ack(acked);
            for (const r of acked) log(`acked ${r.value} ${r.deliveries}`);
          }
        }),
      );
      break;
    }
    default:
      throw new Error(`unknown role ${role}`);
  }
  log("done");
} finally {
  await store.close();
}
