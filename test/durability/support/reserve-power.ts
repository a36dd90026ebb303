// Reservations under power loss (test/durability/power-cut.test.ts, workload "reserve" of
// power-writer.ts): after the cut, every reservation the writer saw acked stays acked,
// every item it reserved and neither acked nor released is still held under its lease
// (invisible until exactly the deadline it was given, then back with its delivery count
// one higher), and nothing else is lost or duplicated, in FIFO order.
//
// The check runs on a clock of its own (the store's `clock` option), so that it can move
// time to a lease's deadline: the leases are RESERVE_LEASE_MS long, far beyond the test.

import { open } from "../../../index.ts";
import type { Clock, Queue, Reservation, Store } from "../../../proto/api.ts";
import { isQueueItem, type QueueItem } from "./power-values.ts";

export const RESERVE_QUEUE = "power-reserve";
export const RESERVE_PARTITION = "w";
export const RESERVE_ITEMS = 4_000;
export const RESERVE_BATCH = 5;
export const RESERVE_LEASE_MS = 600_000;

/**
 * What the writer does with a reserved item: ack it, release it at once, or keep it until the
 * cut. A third of first deliveries are released, and a third of those again, so that some
 * items held at the cut were delivered two or three times.
 */
export function reserveFate(seq: number, deliveries: number): "ack" | "release" | "keep" {
  const FATES = ["ack", "keep", "release"] as const;
  if (deliveries === 1) return FATES[seq % 3]!;
  if (deliveries === 2) return FATES[Math.floor(seq / 3) % 3]!;
  return (Math.floor(seq / 9) + deliveries) % 2 === 0 ? "ack" : "keep";
}

export interface ReserveVerdict {
  openError: string | undefined;
  violations: string[];
  /** Items the writer saw acked. */
  acked: number;
  /** Items the writer held at the cut (reserved, nothing attempted after). */
  held: number;
  /** Items reserved more than once before the cut, among those held. */
  redelivered: number;
}

interface ItemLog {
  /** The last reservation the writer saw: deliveries and deadline. */
  last: { deliveries: number; leaseEndsAt: number } | undefined;
  /** What was attempted after `last`: nothing, an ack (acknowledged or not), a release (same). */
  after: "" | "a" | "A" | "l" | "L";
  acked: boolean;
}

function parse(text: string): { items: ItemLog[]; put: number } {
  const items: ItemLog[] = [];
  let put = 0;
  const item = (seq: number): ItemLog => (items[seq] ??= { last: undefined, after: "", acked: false });
  for (const line of text.split("\n")) {
    const [kind, a, b, c] = line.split(" ");
    if (kind === "I") put = Number(a);
    else if (kind === "R") Object.assign(item(Number(a)), { last: { deliveries: Number(b), leaseEndsAt: Number(c) }, after: "" });
    else if (kind === "a" || kind === "l" || kind === "L") item(Number(a)).after = kind;
    else if (kind === "A") Object.assign(item(Number(a)), { after: "A", acked: true });
  }
  return { items, put };
}

class SettableClock implements Clock {
  constructor(public ms: number) {}
  now(): number {
    return this.ms;
  }
}

function note(list: string[], line: string): void {
  if (list.length < 10) list.push(line);
  else if (list.length === 10) list.push("...");
}

/** Everything visible now, reserved under a lease that outlives the check. */
async function reserveVisible(q: Queue<QueueItem>): Promise<Array<Reservation<QueueItem>>> {
  try {
    return await q.reserve(RESERVE_ITEMS, { partition: RESERVE_PARTITION, timeoutMs: 0, leaseMs: 10 * RESERVE_LEASE_MS });
  } catch (err) {
    if ((err as { code?: string }).code === "QUEUE_EMPTY") return [];
    throw err;
  }
}

/** Opens the folder and checks it against the writer's log; leaves the store closed. */
export async function verifyReservations(path: string, logText: string): Promise<ReserveVerdict> {
  const { items, put } = parse(logText);
  const verdict: ReserveVerdict = { openError: undefined, violations: [], acked: 0, held: 0, redelivered: 0 };
  const held = new Map<number, { deliveries: number; leaseEndsAt: number }>();
  items.forEach((it, seq) => {
    if (it.acked) verdict.acked++;
    if (it.last && it.after === "" && !it.acked) held.set(seq, it.last);
  });
  verdict.held = held.size;
  verdict.redelivered = [...held.values()].filter((h) => h.deliveries > 1).length;
  if (put === 0) {
    note(verdict.violations, "the writer never finished putting its items");
    return verdict;
  }
  const deadlines = [...held.values()].map((h) => h.leaseEndsAt);
  const clock = new SettableClock(Date.now());
  let store: Store;
  try {
    store = await open({ path, clock });
  } catch (err) {
    verdict.openError = `${(err as { code?: string }).code}: ${(err as Error).message}`;
    return verdict;
  }
  try {
    const q = await store.queues.fromName<QueueItem>(RESERVE_QUEUE);
    // 1. What is in the partition, reserved or not, in place: every item not acked, once, in order.
    const present: number[] = [];
    for await (const item of q.iterate({ partition: RESERVE_PARTITION })) {
      if (!isQueueItem(item, RESERVE_PARTITION)) note(verdict.violations, `an item the writer never wrote: ${JSON.stringify(item).slice(0, 80)}`);
      present.push(item.seq);
    }
    present.forEach((seq, i) => {
      if (i > 0 && seq <= present[i - 1]!) note(verdict.violations, `item ${seq} after ${present[i - 1]}: FIFO order or exactly-once broken`);
    });
    const here = new Set(present);
    for (let seq = 0; seq < put; seq++) {
      const it = items[seq];
      if (it?.acked && here.has(seq)) note(verdict.violations, `item ${seq} was acked and is back after the cut`);
      if (!here.has(seq) && it?.after !== "a" && !it?.acked) note(verdict.violations, `item ${seq} was never acked and is lost`);
    }
    if (await q.len({ partition: RESERVE_PARTITION }) !== present.length) note(verdict.violations, `len differs from the ${present.length} items iterated`);
    if (held.size === 0) return verdict;
    // 2. Held items stay invisible until their deadline, however late the clock is before it.
    clock.ms = Math.max(clock.ms, Math.min(...deadlines) - 1);
    for (const r of await reserveVisible(q)) {
      if (held.has(r.value.seq)) note(verdict.violations, `item ${r.value.seq} is visible before its lease's end at ${held.get(r.value.seq)!.leaseEndsAt} (clock ${clock.ms})`);
    }
    // 3. At the last deadline every held item is back, delivered once more than before the cut.
    clock.ms = Math.max(...deadlines);
    const back = new Map((await reserveVisible(q)).map((r) => [r.value.seq, r.deliveries]));
    for (const [seq, h] of held) {
      const deliveries = back.get(seq);
      if (deliveries === undefined) note(verdict.violations, `item ${seq}, held until ${h.leaseEndsAt}, is not back at ${clock.ms}`);
      else if (deliveries !== h.deliveries + 1) note(verdict.violations, `item ${seq} delivered ${h.deliveries} times before the cut, now ${deliveries}`);
    }
  } finally {
    await store.close();
  }
  return verdict;
}
