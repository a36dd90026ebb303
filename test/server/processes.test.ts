// Several client processes share one queue and one dict through one server: every item is
// consumed exactly once, each consumer sees each producer's items of a partition in order
// (FIFO per partition), and among processes racing a skipIfExists put exactly one wins.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { finished, startWorker } from "../support/workers.ts";

const STOP = "STOP";
let server: LarderServer;

beforeAll(async () => {
  server = await startServer({ memory: true, port: 0 });
});

afterAll(async () => {
  await server.close();
});

/** [partition, producer, index] of each "got" line, in the consumer's order. */
function consumed(lines: string[]): Array<[string, string, number]> {
  return lines
    .filter((l) => l.startsWith("got "))
    .map((l) => {
      const [, partition, value] = l.split(" ");
      const [producer, index] = value!.split(":");
      return [partition!, producer!, Number(index)];
    });
}

describe("many client processes through one server", () => {
  it("every item is consumed exactly once, FIFO per partition", async () => {
    const PRODUCERS = 3;
    const CONSUMERS = 3;
    const COUNT = 150;
    const PARTITIONS = 2;
    const common = { url: server.url, queue: "shared", partitions: PARTITIONS };
    const consumers = Array.from({ length: CONSUMERS }, () => startWorker("consumer", common));
    const producers = Array.from({ length: PRODUCERS }, (_, p) => startWorker("producer", { ...common, name: `p${p}`, count: COUNT }));
    await Promise.all(producers.map(finished));

    // Every item is in; one STOP per consumer at the tail of each partition ends the consumers.
    const store = await connect(server.url);
    try {
      const q = await store.queues.fromName<string>("shared");
      for (let i = 0; i < PARTITIONS; i++) await q.putMany(Array.from({ length: CONSUMERS }, () => STOP), { partition: `part-${i}` });
      await Promise.all(consumers.map(finished));
      expect(await q.len({ total: true })).toBe(0);
    } finally {
      await store.close();
    }

    const acked = producers.flatMap((w) => w.lines.filter((l) => l.startsWith("ack ")).map((l) => l.slice(4)));
    expect(acked).toHaveLength(PRODUCERS * COUNT);
    const got = consumers.flatMap((w) => consumed(w.lines).map(([partition, producer, index]) => `${partition} ${producer}:${index}`));
    expect(got.sort()).toEqual([...acked].sort());

    for (const consumer of consumers) {
      const last = new Map<string, number>();
      for (const [partition, producer, index] of consumed(consumer.lines)) {
        const stream = `${partition}/${producer}`;
        expect(index, `${stream} out of order`).toBeGreaterThan(last.get(stream) ?? -1);
        last.set(stream, index);
      }
    }
  });

  it("a skipIfExists lock has exactly one winner among processes", async () => {
    const LOCKERS = 4;
    const ROUNDS = 40;
    const lockers = Array.from({ length: LOCKERS }, (_, i) => startWorker("locker", { url: server.url, dict: "locks", name: `l${i}`, rounds: ROUNDS }));
    await Promise.all(lockers.map(finished));

    const store = await connect(server.url);
    try {
      const d = await store.dicts.fromName<string, string>("locks");
      for (let round = 0; round < ROUNDS; round++) {
        const winners = lockers.map((w, i) => (w.lines.includes(`won ${round}`) ? `l${i}` : undefined)).filter((w) => w !== undefined);
        expect(winners, `round ${round}`).toHaveLength(1);
        expect(await d.get(`lock-${round}`)).toBe(winners[0]);
      }
    } finally {
      await store.close();
    }
  });
});
