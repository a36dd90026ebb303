// A child process for the multi-process HTTP tests: `node --import tsx http-worker.ts ROLE
// JSON-ARGS`. Each role writes one line per event to stdout, so that the parent test checks
// the outcome from the clients' own logs:
//
//   server    {path | postgres, port, wirePort?, durability?}
//                                              -> "listening <url>" ("listening <larder://url>" when
//                                                 it serves the framed transport); closes on SIGTERM
//   producer  {url, queue, name, count, partitions, lanes?, retryTimeoutMs?}
//                                              -> "ack <partition> <name>:<i>" after each acknowledged put,
//                                                 "fail <partition> <name>:<i> <code>" when a put failed
//   consumer  {url, queue, partitions, retryTimeoutMs?}
//                                              -> "got <partition> <value>" per item,
//                                                 "failed-get <partition> <code>" when a get failed;
//                                                 stops reading a partition at its "STOP" item
//   locker    {url, dict, name, rounds}        -> "won <round>" for each skipIfExists put it won
//   reserver  {url, queue, leaseMs, batch, retryTimeoutMs?, holdAfterAcks?}
//                                              -> "reserved <value> <deliveries>" per reservation,
//                                                 "holding <n>" when, after holdAfterAcks acks, it
//                                                 has reserved n more and keeps them (to be killed),
//                                                 "acking <value> <deliveries>" before its ack,
//                                                 "acked <value> <deliveries>" once the ack resolved,
//                                                 "ack-failed <value> <code>"; stops at a "STOP" item
//
// Every role prints "done" last.

import { connect } from "../../client/index.ts";
import { LarderError, UnavailableError } from "../../proto/errors.ts";
import { startServer } from "../../server/index.ts";

const STOP = "STOP";

const [role, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs ?? "{}") as Record<string, any>;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function codeOf(err: unknown): string {
  return err instanceof LarderError ? err.code : String(err);
}

function partitionName(i: number): string {
  return `part-${i}`;
}

async function server(): Promise<void> {
  const where = args.postgres === undefined ? { path: args.path, durability: args.durability ?? "fsync" } : { postgres: args.postgres };
  const wire = args.wirePort === undefined ? {} : { wirePort: args.wirePort };
  const s = await startServer({ ...where, port: args.port ?? 0, ...wire });
  process.once("SIGTERM", () => {
    void s.close().then(() => log("done"));
  });
  log(`listening ${s.wireUrl ?? s.url}`);
}

async function producer(): Promise<void> {
  const store = await connect(args.url, { retryTimeoutMs: args.retryTimeoutMs ?? 5_000 });
  const q = await store.queues.fromName<string>(args.queue, { createIfMissing: true });
  // `lanes` concurrent put loops (default 1): more than the client's requests in flight, and its puts travel in batches.
  const lanes: number = args.lanes ?? 1;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < args.count; i += lanes) {
        const partition = partitionName(i % args.partitions);
        const value = `${args.name}:${i}`;
        try {
          await q.put(value, { partition });
          log(`ack ${partition} ${value}`);
        } catch (err) {
          log(`fail ${partition} ${value} ${codeOf(err)}`);
          if (!(err instanceof UnavailableError)) throw err;
        }
      }
    }),
  );
  await store.close();
}

async function consumer(): Promise<void> {
  const store = await connect(args.url, { retryTimeoutMs: args.retryTimeoutMs ?? 5_000 });
  const q = await store.queues.fromName<string>(args.queue, { createIfMissing: true });
  const open = new Set(Array.from({ length: args.partitions }, (_, i) => partitionName(i)));
  while (open.size > 0) {
    for (const partition of [...open]) {
      let value: string;
      try {
        // One item at a time, so a consumer takes exactly one STOP per partition.
        value = await q.get({ partition, timeoutMs: 100 });
      } catch (err) {
        if (codeOf(err) === "QUEUE_EMPTY") continue;
        log(`failed-get ${partition} ${codeOf(err)}`);
        if (!(err instanceof UnavailableError)) throw err;
        continue;
      }
      if (value === STOP) open.delete(partition);
      else log(`got ${partition} ${value}`);
    }
  }
  await store.close();
}

async function locker(): Promise<void> {
  const store = await connect(args.url);
  const d = await store.dicts.fromName<string, string>(args.dict, { createIfMissing: true });
  for (let round = 0; round < args.rounds; round++) {
    if (await d.put(`lock-${round}`, args.name, { skipIfExists: true })) log(`won ${round}`);
  }
  await store.close();
}

async function reserver(): Promise<void> {
  const store = await connect(args.url, { retryTimeoutMs: args.retryTimeoutMs ?? 5_000 });
  const q = await store.queues.fromName<string>(args.queue, { createIfMissing: true });
  let acks = 0;
  for (let stop = false; !stop; ) {
    let jobs;
    try {
      jobs = await q.reserve(args.batch, { timeoutMs: 200, leaseMs: args.leaseMs });
    } catch (err) {
      if (codeOf(err) === "QUEUE_EMPTY") continue;
      log(`failed-reserve ${codeOf(err)}`);
      if (!(err instanceof UnavailableError)) throw err;
      continue;
    }
    for (const job of jobs) log(`reserved ${job.value} ${job.deliveries}`);
    if (args.holdAfterAcks !== undefined && acks >= args.holdAfterAcks) {
      log(`holding ${jobs.length}`);
      await new Promise(() => {});
    }
    for (const job of jobs) {
      // Past its STOP, a reserver hands back what else it took: the next STOP is another's.
      if (stop) {
        await job.release();
        continue;
      }
      if (job.value === STOP) stop = true;
      // A little work per job, so that kills land between reserve and ack.
      await new Promise((resolve) => setTimeout(resolve, 2));
      log(`acking ${job.value} ${job.deliveries}`);
      try {
        await job.ack();
        log(`acked ${job.value} ${job.deliveries}`);
        acks++;
      } catch (err) {
        log(`ack-failed ${job.value} ${codeOf(err)}`);
        if (!(err instanceof LarderError)) throw err;
      }
    }
  }
  await store.close();
}

const roles: Record<string, () => Promise<void>> = { server, producer, consumer, locker, reserver };

const run = roles[role ?? ""];
if (run === undefined) {
  console.error(`unknown role ${role}`);
  process.exit(2);
}
run().then(
  () => {
    if (role !== "server") log("done");
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
