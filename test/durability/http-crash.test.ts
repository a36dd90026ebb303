// Crash: SIGKILL the server process while producers and consumers run through it, restart
// it on the same folder (or PostgreSQL database, whose server keeps running) and port, and check from the clients' own logs that no acknowledged
// put was lost and no item was delivered twice.
//
// Every call carries a request id (docs/protocol.md, "Request ids"), so a get whose
// connection broke at the kill after the server took its item is sent again to the new
// server, which answers it with the same item from the record written with the take: no
// acknowledged item may be missing, and no put or get may end with an unknown outcome.
// (Before request ids, up to one item per broken get was lost, and each consumer logged
// such a get as "failed-get".) The same crash runs over HTTP and over the framed transport
// (`larder://`), where every call of a client is in flight on one connection at the kill.

import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { tempFolder } from "../support/remote-store.ts";
import { finished, startWorker, type Worker } from "../support/workers.ts";

const STOP = "STOP";
const CONSUMERS = 2;
const COUNT = 300;
const PARTITIONS = 2;
/** Clients ride out the restart: a refused connection is retried this long. */
const RETRY_TIMEOUT_MS = 60_000;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Where the server keeps its data: `{ path }` (LevelDB) or `{ postgres }` (a database URL). */
type Data = { path: string } | { postgres: string };

type Transport = "http" | "wire";

/** The server on `port`: its HTTP port, or, over larder://, its wire port (HTTP then on any free port). */
function serverWorker(data: Data, port: number, transport: Transport): Worker {
  const worker = startWorker("server", { ...data, ...(transport === "wire" ? { port: 0, wirePort: port } : { port }) });
  cleanups.push(async () => {
    if (worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
  });
  return worker;
}

function values(lines: string[], prefix: string): string[] {
  return lines.filter((l) => l.startsWith(prefix)).map((l) => l.split(" ").slice(1, 3).join(" "));
}

/** The LevelDB server's folder, or a PostgreSQL database whose server outlives the Larder server killed. */
async function levelFolder(): Promise<Data> {
  const folder = await tempFolder("larder-http-crash-");
  cleanups.push(folder.remove);
  return { path: folder.path };
}

const backends: Array<{ name: string; transport: Transport; missing: string | undefined; data(): Promise<Data> }> = [
  { name: "LevelDB over HTTP", transport: "http", missing: undefined, data: levelFolder },
  { name: "LevelDB over larder://", transport: "wire", missing: undefined, data: levelFolder },
  {
    name: "PostgreSQL over HTTP",
    transport: "http",
    missing: postgresMissing(),
    async data() {
      const cluster = await startPostgres({ noFsync: true });
      cleanups.push(() => cluster.stop());
      return { postgres: await cluster.createDatabase() };
    },
  },
];

describe.each(backends)("server crash on $name", ({ transport, missing, data: dataOf }) => {
  it.skipIf(missing !== undefined)("after SIGKILL and restart, no acknowledged put is lost and no item is delivered twice", { timeout: 240_000 }, async () => {
    const data = await dataOf();
    const first = serverWorker(data, 0, transport);
    const url = (await first.waitFor(/^listening /)).slice("listening ".length);
    expect(new URL(url).protocol).toBe(transport === "wire" ? "larder:" : "http:");
    const port = Number(new URL(url).port);

    const common = { url, queue: "jobs", partitions: PARTITIONS, retryTimeoutMs: RETRY_TIMEOUT_MS };
    const consumers = Array.from({ length: CONSUMERS }, () => startWorker("consumer", common));
    // The last producer runs 16 puts at a time, ten times as many, so that its puts are in
    // flight in batches when the server dies.
    const counts = [COUNT, COUNT, 10 * COUNT];
    const producers = counts.map((count, p) =>
      startWorker("producer", { ...common, name: `p${p}`, count, ...(p === counts.length - 1 ? { lanes: 16 } : {}) }),
    );
    for (const w of [...consumers, ...producers]) cleanups.push(async () => w.child.kill("SIGKILL"));

    // Kill the server in the middle of the traffic: once some items are acknowledged and consumed.
    await Promise.all(producers.map((w, p) => w.waitForCount(/^ack /, counts[p]! / 4)));
    await Promise.all(consumers.map((w) => w.waitForCount(/^got /, 10)));
    first.child.kill("SIGKILL");
    await first.exited;

    const second = serverWorker(data, port, transport);
    await second.waitFor(/^listening /);
    await Promise.all(producers.map(finished));

    const store = await connect(url);
    cleanups.push(() => store.close());
    const q = await store.queues.fromName<string>("jobs");
    for (let i = 0; i < PARTITIONS; i++) await q.putMany(Array.from({ length: CONSUMERS }, () => STOP), { partition: `part-${i}` });
    await Promise.all(consumers.map(finished));
    expect(await q.len({ total: true })).toBe(0);

    const acked = producers.flatMap((w) => values(w.lines, "ack "));
    const uncertain = new Set(producers.flatMap((w) => values(w.lines, "fail ")));
    const got = consumers.flatMap((w) => values(w.lines, "got "));
    const failedGets = consumers.flatMap((w) => w.lines.filter((l) => l.startsWith("failed-get "))).length;

    // Nothing delivered twice.
    expect(got.length).toBe(new Set(got).size);
    // Only items that were put are delivered: acknowledged ones, or ones whose put had an unknown outcome.
    const ackedSet = new Set(acked);
    expect(got.filter((v) => !ackedSet.has(v) && !uncertain.has(v))).toEqual([]);
    // Every acknowledged item is delivered, and every call had a known outcome.
    const gotSet = new Set(got);
    const missing = acked.filter((v) => !gotSet.has(v));
    expect(missing).toEqual([]);
    expect(failedGets).toBe(0);
    expect([...uncertain]).toEqual([]);
    // The traffic really crossed the crash: both servers acknowledged puts.
    expect(acked.length + uncertain.size).toBe(counts.reduce((a, b) => a + b));
  });
});
