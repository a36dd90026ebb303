// Failover: a primary with a synchronous standby; a producer and a consumer in two other
// processes, both reaching the database through a TCP forwarder (the endpoint a Patroni
// HAProxy or a managed service gives). Mid-run the primary is SIGKILLed, the standby
// promoted, and the forwarder pointed at it. Every put the producer saw acknowledged was
// got exactly once by the consumer or is still in the queue on the new primary; nothing is
// got twice; each producer's items come out in order. With a consumer that reserves and
// acks instead (reservations held at the kill), no acknowledged put is lost at all: what a
// lost commit answer left reserved comes back when its lease ends.

import { connect as netConnect, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { open } from "../../index.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";
import { finished, startWorker, type Worker } from "../support/workers.ts";

const WORKER = fileURLToPath(new URL("../support/postgres-worker.ts", import.meta.url));
const missing = postgresMissing();
if (missing) console.warn(`skipping the PostgreSQL failover test: ${missing}`);

/** A TCP forwarder to 127.0.0.1:port; `to(port)` moves new connections and cuts the old ones. */
async function forwarder(port: number): Promise<{ port: number; to(port: number): void; close(): Promise<void> }> {
  let target = port;
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = netConnect(target, "127.0.0.1");
    for (const s of [down, up]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    to(next: number) {
      target = next;
      for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function values(worker: Worker, prefix: string): string[] {
  return worker.lines.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
}

describe.skipIf(missing !== undefined)("PostgreSQL failover: SIGKILL the primary, promote the synchronous standby", () => {
  let cluster: PgCluster | undefined;
  let forward: Awaited<ReturnType<typeof forwarder>> | undefined;
  afterAll(async () => {
    await forward?.close();
    await cluster?.stop();
  });

  /** A primary and its synchronous standby behind a forwarder, with a queue "jobs": the URL through the forwarder, and the direct one. */
  async function startPair(database: string): Promise<{ url: string; direct: string }> {
    await forward?.close();
    await cluster?.stop();
    cluster = await startPostgres({ standby: true });
    const direct = await cluster.createDatabase(database);
    forward = await forwarder(cluster.primary.port);
    const url = direct.replace(`:${cluster.primary.port}/`, `:${forward.port}/`);
    const setup = await open({ postgres: url });
    await setup.queues.create("jobs");
    await setup.close();
    return { url, direct };
  }

  /** SIGKILLs the primary, promotes the standby, points the forwarder at it, waits for the workers: the new primary's URL. */
  async function failOver(direct: string, workers: Worker[]): Promise<string> {
    await cluster!.primary.kill();
    await cluster!.promote();
    forward!.to(cluster!.standby!.port);
    for (const worker of workers) await finished(worker);
    return direct.replace(`:${cluster!.primary.port}/`, `:${cluster!.standby!.port}/`);
  }

  it("every acknowledged put is got exactly once or still there, in order", async () => {
    const { url, direct } = await startPair("larder_failover");
    const producer = startWorker("producer", { url, queue: "jobs", name: "p", count: 600, keepGoing: true, stop: true }, WORKER);
    const consumer = startWorker("consumer", { url, queue: "jobs" }, WORKER);
    await producer.waitForCount(/^ack /, 200);
    const promoted = await failOver(direct, [producer, consumer]);

    const acked = values(producer, "ack ").map((i) => `p:${i}`);
    const got = values(consumer, "got ");
    const after = await open({ postgres: promoted });
    const q = await after.queues.fromName<string>("jobs");
    const left: string[] = [];
    for (let more = await q.getMany(1000, { timeoutMs: 0 }).catch(() => []); more.length > 0; more = await q.getMany(1000, { timeoutMs: 0 }).catch(() => [])) {
      left.push(...more);
    }
    await after.close();

    expect(acked.length).toBeGreaterThan(200);
    const seen = [...got, ...left.filter((v) => v !== "STOP")];
    // Nothing twice, and each producer's items in order.
    expect(new Set(seen).size).toBe(seen.length);
    const order = seen.map((v) => Number(v.slice(2)));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // Every acknowledged put is there, except what a getMany whose commit answer was lost
    // took (UNAVAILABLE: at most once, docs/postgres.md), at most 10 items each.
    const missingAcked = acked.filter((v) => !seen.includes(v));
    const failedGets = values(consumer, "failed-get ").length;
    expect(missingAcked.length).toBeLessThanOrEqual(10 * failedGets);
    // Puts whose commit answer was lost (UNAVAILABLE) may or may not be there.
    console.log(`failover: ${acked.length} puts acknowledged, ${values(producer, "fail ").length} failed, ${got.length} got, ${left.length} left, ${failedGets} failed gets, ${missingAcked.length} acknowledged missing`);
  }, 120_000);

  it("with reservations held at the kill, every acknowledged put is acked or still there: none lost", async () => {
    const { url, direct } = await startPair("larder_failover_reserve");
    const leaseMs = 3_000;
    const producer = startWorker("producer", { url, queue: "jobs", name: "p", count: 600, keepGoing: true, stop: true }, WORKER);
    const consumer = startWorker("reserving-consumer", { url, queue: "jobs", leaseMs }, WORKER);
    await producer.waitForCount(/^ack /, 200);
    await consumer.waitForCount(/^acked /, 50);
    const promoted = await failOver(direct, [producer, consumer]);

    const acked = values(producer, "ack ").map((i) => `p:${i}`);
    const done = values(consumer, "acked ");
    const failedAcks = values(consumer, "failed-ack ").map((l) => l.split(" ")[0]!);
    const after = await open({ postgres: promoted });
    const q = await after.queues.fromName<string>("jobs");
    // What an ack whose answer was lost left reserved comes back when its lease ends.
    const left: string[] = [];
    while ((await q.len()) > 0) left.push(...(await q.getMany(1000, { timeoutMs: 2 * leaseMs }).catch(() => [])));
    await after.close();

    expect(acked.length).toBeGreaterThan(200);
    // Nothing acked twice by the consumer (one holder per item), and none lost.
    expect(new Set(done).size).toBe(done.length);
    const accounted = new Set([...done, ...failedAcks, ...left]);
    expect(acked.filter((v) => !accounted.has(v))).toEqual([]);
    console.log(`failover with reservations: ${acked.length} puts acknowledged, ${done.length} acked, ${failedAcks.length} in failed acks, ${left.length} left`);
  }, 180_000);
});
