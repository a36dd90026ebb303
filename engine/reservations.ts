// Reservations of one queue (spec, "Reliable delivery: reservations"): reserve, ack,
// release, extend, and what happens when a lease or a release delay ends. The items stay
// in their partitions (engine/queues.ts moves them); which ones are held, and by what, is
// in engine/holds.ts. Every change is in one batch with the records it changes: the hold
// record of the group, the partition row (its held and reserved counts), the dead-letter
// partition's new run and its moved record, and the request record of a remote call.

import { ClosedError, InvalidError, LeaseExpiredError } from "../proto/errors.ts";
import type { QueueReserveRequest, ReservedItem } from "../proto/backend.ts";
import { validateCount, validatePartition, validateTimeout } from "../proto/validate.ts";
import type { Batch } from "./commit.ts";
import { CorruptionError } from "./corruption.ts";
import { Group, parseToken, type GroupHost, type Held, type TokenParts } from "./holds.ts";
import { HOLD_DELAY, HOLD_LEASE, HOLD_VISIBLE, deadlineAfter, encodeMoved, movedKey, type HoldRecord, type HoldState, type MovedRecord } from "./layout.ts";
import type { Receipt } from "./requests.ts";
import { waitTicket } from "../proto/tickets.ts";
import { sortedIndex, type Partition } from "./partition.ts";
import type { QueueState } from "./queues.ts";
import type { GetWaiter, LeaseTerms } from "./waiters.ts";

/** The default lease (spec): 30 s, or leaseMsMax if lower. */
const LEASE_MS_DEFAULT = 30_000;
/** A dead-lettered item remembers this many places it was before (older ones: an ack of those reservations resolves). */
const ORIGINS_MAX = 16;
/** maxDeliveries and delivery counts are stored as u32. */
const DELIVERIES_MAX = 2 ** 32 - 1;

function expired(what: string): LeaseExpiredError {
  return new LeaseExpiredError(`the lease of this reservation has ended: ${what}`);
}

function positiveInteger(name: string, value: unknown, max: number, min = 1): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export class Reservations implements GroupHost {
  /** At load: what each partition row says it holds, checked against the hold records read. */
  private restoring = new Map<Partition, { held: number; reserved: number; items: Held[] }>();

  constructor(private readonly q: QueueState) {}

  private get core() {
    return this.q.core;
  }

  // ---- arguments ----

  private terms(request: QueueReserveRequest): LeaseTerms {
    const leaseMsMax = this.core.limits.leaseMsMax;
    const leaseMs = request.leaseMs === undefined || request.leaseMs === null ? Math.min(LEASE_MS_DEFAULT, leaseMsMax) : positiveInteger("leaseMs", request.leaseMs, leaseMsMax);
    const maxDeliveries = request.maxDeliveries === undefined || request.maxDeliveries === null ? 0 : positiveInteger("maxDeliveries", request.maxDeliveries, DELIVERIES_MAX);
    let deadLetter: string | undefined;
    if (request.deadLetterPartition !== undefined && request.deadLetterPartition !== null) {
      if (maxDeliveries === 0) throw new InvalidError("deadLetterPartition is only allowed with maxDeliveries");
      validatePartition(request.deadLetterPartition, this.core.limits.queuePartitionKeyBytesMax);
      deadLetter = request.deadLetterPartition;
    }
    return { leaseMs, maxDeliveries, deadLetter };
  }

  /** Reads a token into `out`, or throws InvalidError. */
  private parse(token: unknown, out: TokenParts): TokenParts {
    if (!parseToken(token, out)) throw new InvalidError("a reservation token is not one this store issued");
    return out;
  }

  /** The partition a parsed token names, after ending what is due there; undefined when it is gone. */
  private partitionOf(t: TokenParts, now: number): Partition | undefined {
    const found = this.q.registry.get(t.partNum);
    if (found && found.queue !== this.q) throw new InvalidError(`a reservation of another queue, not of ${this.q.label}`);
    let p = found;
    if (p) {
      this.q.expireIfDue(p, now);
      if (p.count === 0) p = undefined;
    }
    if (p && t.seq >= p.head) throw new InvalidError("a reservation token is not one this store issued");
    return p;
  }

  /** The partition and held item a token names, after ending what is due; undefined parts when gone. */
  private find(token: unknown): { p: Partition | undefined; h: Held | undefined; owner: number } {
    const t = this.parse(token, { partNum: 0, seq: 0, owner: 0 });
    const p = this.partitionOf(t, this.core.now());
    return { p, h: p?.held.get(t.seq), owner: t.owner };
  }

  // ---- reserve ----

  async reserve(n: number, request: QueueReserveRequest, receipt: Receipt | undefined): Promise<ReservedItem[]> {
    const q = this.q;
    q.ensureLive();
    validateCount("n", n, 1);
    const timeoutMs = validateTimeout("timeoutMs", request.timeoutMs);
    const terms = this.terms(request);
    if (request.signal?.aborted) throw new ClosedError("the wait was cancelled: its handle or store was closed");
    // First: a lease that ends may dead-letter into the partition looked up next.
    this.core.leases.runDue();
    const { name, existing } = q.lookup(request.partition);
    if (existing) q.expireIfDue(existing, this.core.now());
    if (existing && existing.available > 0) {
      const batch = this.core.batch();
      const items = this.reserveNow(existing, n, terms, batch);
      receipt?.(batch, items);
      q.settle(existing);
      await batch.done;
      return items;
    }
    if (timeoutMs === 0) return [];
    const p = existing ?? q.partitionFor(name);
    return new Promise<ReservedItem[]>((resolve, reject) => {
      const w: GetWaiter = {
        n,
        receipt,
        lease: terms,
        resolve: resolve as GetWaiter["resolve"],
        reject,
        ticket: request.ticket ?? waitTicket(),
        done: false,
        timer: undefined,
        signal: request.signal,
        onAbort: undefined,
      };
      q.wait(p, p.getters, w, timeoutMs, () => resolve([]));
    });
  }

  /** Reserves up to n available items of `p` in `batch` under one new lease group. */
  reserveNow(p: Partition, n: number, terms: LeaseTerms, batch: Batch): ReservedItem[] {
    const core = this.core;
    const group = new Group(this, p.num, core.allocate(), HOLD_LEASE, deadlineAfter(core.now(), terms.leaseMs), terms.maxDeliveries, terms.deadLetter);
    p.groups.add(group);
    const out: ReservedItem[] = [];
    // Tokens are "partNum.seq.owner" (reservationToken): only seq differs within a call.
    const before = `${p.num}.`;
    const after = `.${group.num}`;
    const item = (h: Held, value: Uint8Array): ReservedItem => ({
      token: before + h.seq + after,
      value,
      deliveries: h.deliveries,
      partition: p.name,
      leaseEndsAt: group.deadline,
    });
    // Items visible again come first: they are below head, before every item at it.
    while (out.length < n && p.visible.length > 0) {
      const h = p.held.get(p.visible.shift()!)!;
      this.leave(p, h);
      h.deliveries = Math.min(DELIVERIES_MAX, h.deliveries + 1);
      h.owner = group.num;
      group.add(h);
      p.reserved++;
      out.push(item(h, p.valueOf(h.seq, h.run)));
    }
    if (out.length < n && p.tail > p.head) {
      const values: Uint8Array[] = [];
      const helds: Held[] = [];
      this.q.takeFresh(p, n - out.length, batch, values, (seq, run) => {
        const before = p.moved.size === 0 ? 0 : (p.moved.get(seq)?.deliveries ?? 0);
        const h: Held = { seq, run, deliveries: Math.min(DELIVERIES_MAX, before + 1), owner: group.num, group, slot: -1 };
        group.add(h);
        p.held.set(seq, h);
        p.reserved++;
        helds.push(h);
      });
      for (let i = 0; i < helds.length; i++) out.push(item(helds[i]!, values[i]!));
    }
    core.committer.markDirty(group);
    core.committer.markDirty(p);
    core.leases.schedule(group);
    return out;
  }

  /** Takes `h` out of its group (which is rewritten, or deleted when empty, with the batch). */
  private leave(p: Partition, h: Held): void {
    const group = h.group;
    group.items.delete(h);
    this.core.committer.markDirty(group);
    if (group.items.size === 0) p.groups.delete(group);
  }

  // ---- ack, release, extend ----

  async ack(tokens: unknown, receipt: Receipt | undefined): Promise<string[]> {
    const q = this.q;
    q.ensureLive();
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string")) throw new InvalidError("ack takes a list of reservation tokens");
    this.core.leases.runDue();
    // Every token is checked before anything is acked: a bad one acks nothing. One pass
    // over arrays rather than an object per token: an ack of 100 is the common case.
    const n = tokens.length;
    const t: TokenParts = { partNum: 0, seq: 0, owner: 0 };
    const parts = new Array<Partition | undefined>(n);
    const helds = new Array<Held | undefined>(n);
    const owners = new Float64Array(n);
    const now = this.core.now();
    for (let i = 0; i < n; i++) {
      this.parse(tokens[i], t);
      const p = this.partitionOf(t, now);
      parts[i] = p;
      helds[i] = p?.held.get(t.seq);
      owners[i] = t.owner;
    }
    const refused: string[] = [];
    const touched = new Set<Partition>();
    let batch: Batch | undefined;
    for (let i = 0; i < n; i++) {
      const p = parts[i];
      const h = helds[i];
      // Still held (an item is held exactly while it is in its group): not taken by a token before it in this list.
      if (p && h && p.held.get(h.seq) === h) {
        if (Group.holds(h, owners[i]!)) {
          batch ??= this.core.batch();
          q.finishHeld(p, h, batch);
          touched.add(p);
        } else {
          refused.push(tokens[i] as string);
        }
      } else if (!h && this.stillDeadLettered(this.parse(tokens[i], t))) {
        // Dead-lettered: still there, in another partition.
        refused.push(tokens[i] as string);
      }
      // Otherwise the item is gone (acked before, got, cleared, expired, dropped): done.
    }
    if (!batch) {
      // Nothing changed; what made the items gone may still be on its way to disk.
      await this.core.committer.barrier();
      return refused;
    }
    // The record goes into the batch before waiters are served: a throw there must not
    // leave the acks written without it.
    receipt?.(batch, refused);
    for (const p of touched) q.settle(p);
    await batch.done;
    return refused;
  }

  /**
   * Whether the item a token named sits in a dead-letter partition now. That partition may
   * have expired without a sweep yet: its items are gone (so an ack of them resolves), and
   * expiring it here says so.
   */
  private stillDeadLettered(t: TokenParts): boolean {
    const key = `${t.partNum}.${t.seq}`;
    const origin = this.q.origins.get(key);
    if (origin === undefined) return false;
    this.q.expireIfDue(origin.p, this.core.now());
    return this.q.origins.has(key);
  }

  async release(token: unknown, delayMs: unknown, receipt: Receipt | undefined): Promise<void> {
    this.q.ensureLive();
    const delay = positiveInteger("delayMs", delayMs ?? 0, this.core.limits.leaseMsMax, 0);
    this.core.leases.runDue();
    const { p, h, owner } = this.find(token);
    if (!p || !h || !Group.holds(h, owner)) throw expired("release refused");
    const batch = this.core.batch();
    const now = this.core.now();
    const group = h.group;
    if (group.maxDeliveries > 0 && h.deliveries >= group.maxDeliveries) {
      this.deadLetter(p, h, group, batch, now);
    } else if (delay > 0) {
      this.moveTo(p, h, HOLD_DELAY, deadlineAfter(now, delay));
    } else {
      p.reserved--;
      this.moveTo(p, h, HOLD_VISIBLE, -1);
      p.visible.splice(sortedIndex(p.visible, h.seq), 0, h.seq);
    }
    this.core.committer.markDirty(p);
    receipt?.(batch, undefined);
    this.q.settle(p);
    await batch.done;
  }

  async extend(token: unknown, ms: unknown, receipt: Receipt | undefined): Promise<number> {
    this.q.ensureLive();
    const leaseMs = positiveInteger("ms", ms, this.core.limits.leaseMsMax);
    this.core.leases.runDue();
    const { p, h, owner } = this.find(token);
    if (!p || !h || !Group.holds(h, owner)) throw expired("extend refused");
    const batch = this.core.batch();
    const deadline = deadlineAfter(this.core.now(), leaseMs);
    this.moveTo(p, h, HOLD_LEASE, deadline);
    receipt?.(batch, deadline);
    await batch.done;
    return deadline;
  }

  /** Gives `h` a new state and deadline: its group changes in place if `h` is all it holds, else `h` moves to a new group. */
  private moveTo(p: Partition, h: Held, state: HoldState, deadline: number): void {
    const old = h.group;
    let group = old;
    if (old.items.size === 1) {
      old.state = state;
      old.deadline = deadline;
    } else {
      old.items.delete(h);
      this.core.committer.markDirty(old);
      group = new Group(this, old.partNum, this.core.allocate(), state, deadline, old.maxDeliveries, old.deadLetter);
      group.add(h);
      p.groups.add(group);
    }
    this.core.committer.markDirty(group);
    if (state !== HOLD_VISIBLE) this.core.leases.schedule(group);
  }

  // ---- lease ends ----

  groupDue(group: Group, now: number): void {
    const p = this.q.registry.get(group.partNum);
    if (!p || p.queue !== this.q) return;
    this.q.expireIfDue(p, now);
    if (group.items.size === 0) return;
    const batch = this.core.batch();
    if (group.state === HOLD_LEASE && group.maxDeliveries > 0) {
      for (const h of group.items.values()) {
        if (h.deliveries >= group.maxDeliveries) this.deadLetter(p, h, group, batch, now);
      }
    }
    if (group.items.size > 0) {
      group.state = HOLD_VISIBLE;
      group.deadline = -1;
      for (const h of group.items.values()) {
        p.reserved--;
        p.visible.splice(sortedIndex(p.visible, h.seq), 0, h.seq);
      }
      this.core.committer.markDirty(group);
      this.core.committer.markDirty(p);
    }
    this.q.settle(p);
  }

  /**
   * `h` was delivered maxDeliveries times and its lease ended: it moves to the tail of the
   * group's dead-letter partition (with its count and where it was), or is dropped without one.
   */
  private deadLetter(p: Partition, h: Held, group: Group, batch: Batch, now: number): void {
    const q = this.q;
    const value = p.valueOf(h.seq, h.run);
    const origins: Array<[number, number]> = [...(p.moved.get(h.seq)?.origins ?? []), [p.num, h.seq]];
    const record: MovedRecord = { deliveries: h.deliveries, origins: origins.slice(-ORIGINS_MAX) };
    q.finishHeld(p, h, batch);
    if (group.deadLetter === undefined) return;
    const dp = q.partitionFor(group.deadLetter);
    q.expireIfDue(dp, now);
    // Like a put (its ttl from the store's default), but no limit may refuse it.
    q.append(dp, [value], this.core.limits.partitionTtlMs, true);
    const seq = dp.tail - 1;
    dp.moved.set(seq, record);
    batch.put(movedKey(dp.num, seq), encodeMoved(record));
    for (const [num, s] of record.origins) q.origins.set(`${num}.${s}`, { p: dp, seq });
    q.settle(dp);
  }

  // ---- loading ----

  expectHeld(p: Partition, held: number, reserved: number): void {
    if (held > 0) this.restoring.set(p, { held, reserved, items: [] });
  }

  restoreGroup(p: Partition, num: number, record: HoldRecord): void {
    const expected = this.restoring.get(p);
    if (!expected) throw new CorruptionError(`a hold record for a partition whose row holds nothing`, `${this.q.label}, hold ${num}`);
    const group = new Group(this, p.num, num, record.state, record.deadline, record.maxDeliveries, record.deadLetter);
    group.persisted = true;
    for (const r of record.ranges) {
      for (let i = 0; i < r.count; i++) {
        const h: Held = { seq: r.seq + i, run: r.run, deliveries: r.deliveries, owner: r.owner, group, slot: -1 };
        group.items.add(h);
        expected.items.push(h);
      }
    }
    p.groups.add(group);
  }

  restoreMoved(p: Partition, seq: number, record: MovedRecord): void {
    p.moved.set(seq, record);
    for (const [num, s] of record.origins) this.q.origins.set(`${num}.${s}`, { p, seq });
  }

  /** Orders what was read and checks it against the partition rows. */
  finishRestore(): void {
    for (const [p, expected] of this.restoring) {
      expected.items.sort((a, b) => a.seq - b.seq);
      for (const h of expected.items) {
        p.held.set(h.seq, h);
        p.runRefs.set(h.run, (p.runRefs.get(h.run) ?? 0) + 1);
        // A get before the restart may have taken items of this run by reference.
        if (h.run < p.headRun) p.kept.add(h.run);
        if (h.group.holding) p.reserved++;
        else p.visible.push(h.seq);
      }
      // Only now: the lease timer must not end a lease of a partition that is half loaded.
      for (const group of p.groups) if (group.holding) this.core.leases.schedule(group);
      if (p.held.size !== expected.held || p.reserved !== expected.reserved) {
        throw new CorruptionError(
          `hold records of ${p.held.size} items (${p.reserved} reserved) for a partition row of ${expected.held} (${expected.reserved} reserved)`,
          `${this.q.label}, ${p.describe()}`,
        );
      }
    }
    this.restoring = new Map();
  }
}
