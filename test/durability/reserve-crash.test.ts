// Crash with reservations: consumers reserve and ack through a server while one consumer
// is SIGKILLed, and then the server itself; a new server starts on the same folder and port.
// From the consumers' own logs and the queue at the end: every item put was acked (by a
// consumer that lived, or in an ack in flight when one was killed) or is still in the
// queue, none lost; no delivery of an item went to two holders (each reservation of an item
// has its own delivery count); and an item delivered once was acked once.

import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { tempFolder } from "../support/remote-store.ts";
import { finished, startWorker, type Worker } from "../support/workers.ts";

const STOP = "STOP";
const COUNT = 600;
const RESERVERS = 3;
/** Short enough that the killed consumer's items come back within the test. */
const LEASE_MS = 1_500;
const RETRY_TIMEOUT_MS = 60_000;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function serverWorker(path: string, port: number): Worker {
  const worker = startWorker("server", { path, port });
  cleanups.push(async () => {
    if (worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
  });
  return worker;
}

function reserverWorker(url: string, holdAfterAcks?: number): Worker {
  const worker = startWorker("reserver", { url, queue: "jobs", leaseMs: LEASE_MS, batch: 4, retryTimeoutMs: RETRY_TIMEOUT_MS, ...(holdAfterAcks === undefined ? {} : { holdAfterAcks }) });
  cleanups.push(async () => worker.child.kill("SIGKILL"));
  return worker;
}

/** Resolves once `check()` holds (looked at every 100 ms), or fails after two minutes naming `what`. */
function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  return new Promise((resolve, reject) => {
    const look = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`never happened: ${what}`));
      else setTimeout(look, 100);
    };
    look();
  });
}

/** The [value, deliveries] of each line with this prefix. */
function events(lines: string[], prefix: string): Array<[string, number]> {
  return lines.filter((l) => l.startsWith(`${prefix} `)).map((l) => {
    const [, value, deliveries] = l.split(" ");
    return [value!, Number(deliveries)];
  });
}

describe("reservations through crashes", () => {
  it("under SIGKILLs of a consumer and of the server, every item is acked or still queued, none lost", async () => {
    const folder = await tempFolder("larder-reserve-crash-");
    cleanups.push(folder.remove);
    const first = serverWorker(folder.path, 0);
    const url = (await first.waitFor(/^listening /)).slice("listening ".length);
    const port = Number(new URL(url).port);

    const store = await connect(url, { retryTimeoutMs: RETRY_TIMEOUT_MS });
    cleanups.push(() => store.close());
    const q = await store.queues.fromName<string>("jobs", { createIfMissing: true });
    const items = Array.from({ length: COUNT }, (_, i) => `item-${i}`);
    for (let i = 0; i < COUNT; i += 100) await q.putMany(items.slice(i, i + 100));

    // The victim acks 40 items, then reserves a batch and keeps it: killed while it holds
    // reservations, which must come back to the others when their leases end.
    const reservers = [reserverWorker(url, 40), ...Array.from({ length: RESERVERS - 1 }, () => reserverWorker(url))];
    const [victim, ...survivors] = reservers as [Worker, ...Worker[]];
    await victim.waitFor(/^holding /);
    victim.child.kill("SIGKILL");
    await victim.exited;
    // Then the server, with the others reserving and acking through it.
    const ackedBefore = (): number => survivors.reduce((n, w) => n + w.lines.filter((l) => l.startsWith("acked ")).length, 0);
    await until(() => ackedBefore() >= 100, "60 more acks");
    first.child.kill("SIGKILL");
    await first.exited;
    const atKill = ackedBefore();
    const second = serverWorker(folder.path, port);
    await second.waitFor(/^listening /);

    // Every item is taken and acked; the victim's come back when their leases end.
    const all = (): Array<[string, number]> => survivors.flatMap((w) => events(w.lines, "acked"));
    const victimAcking = new Set(events(victim.lines, "acking").map(([v]) => v));
    await until(() => {
      const done = new Set(all().map(([v]) => v));
      return items.every((v) => done.has(v) || victimAcking.has(v));
    }, "every item acked");
    await q.putMany(Array.from({ length: survivors.length }, () => STOP));
    await Promise.all(survivors.map(finished));

    const left = await q.len();
    const stillQueued = new Set<string>();
    for await (const v of q.iterate()) stillQueued.add(v);
    expect(stillQueued.size).toBe(left);

    const acked = [...survivors.flatMap((w) => events(w.lines, "acked")), ...events(victim.lines, "acked")].filter(([v]) => v !== STOP);
    // Acks the victim had sent when it died may or may not have reached the server.
    const inFlight = new Set(events(victim.lines, "acking").map(([v]) => v));
    const ackedSet = new Set(acked.map(([v]) => v));
    // None lost: every item put was acked, or its ack was in flight at the kill, or it is still there.
    expect(items.filter((v) => !ackedSet.has(v) && !inFlight.has(v) && !stillQueued.has(v))).toEqual([]);
    // One holder per delivery: no two reservations of an item carry the same delivery count.
    const reserved = reservers.flatMap((w) => events(w.lines, "reserved")).filter(([v]) => v !== STOP);
    const deliveries = new Map<string, number[]>();
    for (const [v, d] of reserved) deliveries.set(v, [...(deliveries.get(v) ?? []), d]);
    const twice = [...deliveries].filter(([, ds]) => new Set(ds).size !== ds.length);
    expect(twice).toEqual([]);
    // An item delivered once (never redelivered) was acked exactly once.
    const ackCount = new Map<string, number>();
    for (const [v] of acked) ackCount.set(v, (ackCount.get(v) ?? 0) + 1);
    const once = [...deliveries].filter(([, ds]) => ds.length === 1 && ds[0] === 1).map(([v]) => v);
    expect(once.filter((v) => (ackCount.get(v) ?? 0) > 1)).toEqual([]);
    // The traffic crossed both kills: what the victim held was delivered again to another
    // consumer, and acks came after the restart.
    const victimHeld = [...new Set(events(victim.lines, "reserved").map(([v]) => v))].filter((v) => !inFlight.has(v) && v !== STOP);
    expect(victimHeld.length).toBeGreaterThan(0);
    const redelivered = new Set(survivors.flatMap((w) => events(w.lines, "reserved")).filter(([, d]) => d > 1).map(([v]) => v));
    expect(victimHeld.filter((v) => !redelivered.has(v))).toEqual([]);
    expect(all().length).toBeGreaterThan(atKill);
  }, 240_000);
});
