// Wake latency: how long after a put a getter that is already blocked on the empty queue
// returns. One sample: the consumer calls get() and waits; after a settle time (so that
// the get is really blocked, over HTTP: its long-poll has reached the server) the producer
// puts one item. Two figures per sample, both on the same monotonic clock:
//   put call -> get return     what a user sees end to end (includes the put's own commit,
//                              an fsync in fsync mode)
//   put return -> get return   the wake-up delay once the write is committed; near zero or
//                              negative when the getter is served in the put's own commit

import type { Redis } from "ioredis";
import type { Store } from "../../proto/api.ts";
import { openEmbedded, openRemote } from "./larder.ts";
import { RedisServer } from "./redis.ts";
import { nowMs, percentile } from "./runner.ts";

export interface WakeSamples {
  readonly fromPutCallMs: number[];
  readonly fromPutReturnMs: number[];
}

export interface WakeSummary {
  readonly samples: number;
  readonly fromPutCall: { p50Ms: number; p99Ms: number };
  readonly fromPutReturn: { p50Ms: number; p99Ms: number };
}

const GET_TIMEOUT_MS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One blocked get, then one put, `samples` times; `producer` may be the same store. */
export async function larderWake(consumer: Store, producer: Store, samples: number, settleMs: number): Promise<WakeSamples> {
  const name = `wake-${Date.now()}`;
  const qc = await consumer.queues.fromName<number>(name, { createIfMissing: true });
  const qp = producer === consumer ? qc : await producer.queues.fromName<number>(name);
  const out: WakeSamples = { fromPutCallMs: [], fromPutReturnMs: [] };
  try {
    for (let i = 0; i < samples; i++) {
      const returned = qc.get({ timeoutMs: GET_TIMEOUT_MS }).then(() => nowMs());
      await sleep(settleMs);
      const t0 = nowMs();
      await qp.put(i);
      const t1 = nowMs();
      const t2 = await returned;
      out.fromPutCallMs.push(t2 - t0);
      out.fromPutReturnMs.push(t2 - t1);
    }
  } finally {
    await consumer.queues.delete(name, { allowMissing: true });
  }
  return out;
}

/** The same with Redis: BRPOP on one connection, LPUSH from another. */
export async function redisWake(consumer: Redis, producer: Redis, samples: number, settleMs: number): Promise<WakeSamples> {
  const key = `wake-${Date.now()}`;
  const out: WakeSamples = { fromPutCallMs: [], fromPutReturnMs: [] };
  for (let i = 0; i < samples; i++) {
    const returned = consumer.brpop(key, GET_TIMEOUT_MS / 1000).then(() => nowMs());
    await sleep(settleMs);
    const t0 = nowMs();
    await producer.lpush(key, String(i));
    const t1 = nowMs();
    const t2 = await returned;
    out.fromPutCallMs.push(t2 - t0);
    out.fromPutReturnMs.push(t2 - t1);
  }
  return out;
}

export function summarizeWake(samples: WakeSamples): WakeSummary {
  const stats = (values: number[]) => {
    const sorted = Float64Array.from(values).sort();
    return { p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
  };
  return {
    samples: samples.fromPutCallMs.length,
    fromPutCall: stats(samples.fromPutCallMs),
    fromPutReturn: stats(samples.fromPutReturnMs),
  };
}

export interface WakeRecord extends WakeSummary {
  readonly system: string;
  readonly error?: string;
}

export interface WakeSuiteOptions {
  readonly samples: number;
  /** Which Larder setups and Redis modes to measure. */
  readonly larder: ReadonlyArray<{ durability: "fsync" | "buffered"; transport: "embedded" | "http" }>;
  readonly redis: { executable: string | undefined; modes: ReadonlyArray<"always" | "none"> };
  readonly onStep?: (label: string) => void;
}

/** Settle time before the put: a blocked embedded get is registered at once; a remote one needs its request to arrive. */
const SETTLE_EMBEDDED_MS = 2;
const SETTLE_REMOTE_MS = 10;

export async function wakeSuite(options: WakeSuiteOptions): Promise<WakeRecord[]> {
  const records: WakeRecord[] = [];
  for (const { durability, transport } of options.larder) {
    const system = transport === "embedded" ? `larder-${durability}` : `larder-http-${durability}`;
    options.onStep?.(`wake latency: ${system}`);
    try {
      if (transport === "embedded") {
        const opened = await openEmbedded(durability, `wake-${durability}`);
        try {
          const s = await larderWake(opened.store, opened.store, options.samples, SETTLE_EMBEDDED_MS);
          records.push({ system, ...summarizeWake(s) });
        } finally {
          await opened.close();
        }
      } else {
        const opened = await openRemote(durability, `wake-http-${durability}`);
        const producer = await opened.connectTo();
        try {
          const s = await larderWake(opened.store, producer, options.samples, SETTLE_REMOTE_MS);
          records.push({ system, ...summarizeWake(s) });
        } finally {
          await producer.close();
          await opened.close();
        }
      }
    } catch (error) {
      records.push({ system, ...summarizeWake({ fromPutCallMs: [], fromPutReturnMs: [] }), error: String((error as Error)?.message ?? error).split("\n")[0]! });
    }
  }
  if (options.redis.executable !== undefined) {
    for (const mode of options.redis.modes) {
      const system = `redis-${mode}`;
      options.onStep?.(`wake latency: ${system}`);
      const server = await RedisServer.start(options.redis.executable, mode);
      const consumer = server.client();
      const producer = server.client();
      try {
        const s = await redisWake(consumer, producer, options.samples, SETTLE_REMOTE_MS);
        records.push({ system, ...summarizeWake(s) });
      } finally {
        consumer.disconnect();
        producer.disconnect();
        await server.stop();
      }
    }
  }
  return records;
}
