// Reservations in memory: which items below a partition's head are still in it, and why.
//
// A reserved item stays where it was put (in its run, docs/format.md "item"); only the head
// moves past it. Every item below head that is still in the partition is `Held` and belongs
// to exactly one `Group`, whose record (docs/format.md "hold") says what holds it:
//
// - a lease (one group per `reserve` call, so reserve(100) writes one small record and an
//   ack of the 100 deletes it),
// - a release delay (the item is invisible until the deadline, counted as reserved),
// - nothing: the lease ended and the item is visible again, before every item at or past
//   head, so FIFO order holds across redeliveries.
//
// Groups are `Dirty`: however many items of a group a batch acks, releases or extends, its
// record is rewritten (or deleted) once, when the batch goes to disk. Deadlines are on the
// store's clock; one timer, on the earliest deadline of the engine, ends leases when they run
// out (`LeaseTimer`), and every call also ends those due by the clock before it looks, so a
// test's clock needs no sleeps.

import type { Batch, Dirty } from "./commit.ts";
import { HOLD_LEASE, HOLD_VISIBLE, encodeHold, holdKey, type HoldRange, type HoldState } from "./layout.ts";
import { setLongTimeout, type LongTimer } from "../proto/timer.ts";

export interface Held {
  readonly seq: number;
  /** first sequence of the run record the item is in */
  readonly run: number;
  /** times it has been reserved, this reservation included */
  deliveries: number;
  /** the group number of the reserve call that reserved it (its reservations' token); 0 none */
  owner: number;
  group: Group;
  /** its place in its group's `items` (GroupItems) */
  slot: number;
}

/**
 * The items of a group, in the order they were added (sequence order: a reserve takes
 * items in FIFO order). An array with holes rather than a Map: a reserve of 100 adds 100
 * and an ack of them takes 100 away, and a slot per item costs no hashing and no garbage.
 */
export class GroupItems {
  private list: Array<Held | undefined> = [];
  /** items in the group */
  size = 0;

  add(h: Held): void {
    h.slot = this.list.length;
    this.list.push(h);
    this.size++;
  }

  has(h: Held): boolean {
    return this.list[h.slot] === h;
  }

  delete(h: Held): void {
    if (this.list[h.slot] !== h) return;
    this.list[h.slot] = undefined;
    this.size--;
    if (this.size === 0) this.list = [];
  }

  clear(): void {
    this.list = [];
    this.size = 0;
  }

  /** The items now, in order (a copy: callers may move them to other groups meanwhile). */
  values(): Held[] {
    const out: Held[] = [];
    for (const h of this.list) if (h !== undefined) out.push(h);
    return out;
  }
}

/** What a group's owner (the partition's queue) does when its deadline passes. */
export interface GroupHost {
  /** The group's deadline passed by the store's clock: end its lease or its delay. */
  groupDue(group: Group, now: number): void;
}

export class Group implements Dirty {
  readonly items = new GroupItems();
  persisted = false;

  constructor(
    readonly host: GroupHost,
    /** the partition incarnation's number (its key prefix) */
    readonly partNum: number,
    readonly num: number,
    public state: HoldState,
    /** ms on the store's clock; -1 when visible */
    public deadline: number,
    readonly maxDeliveries: number,
    readonly deadLetter: string | undefined,
  ) {}

  get holding(): boolean {
    return this.state !== HOLD_VISIBLE;
  }

  add(h: Held): void {
    h.group = this;
    this.items.add(h);
  }

  flush(batch: Batch): void {
    const key = holdKey(this.partNum, this.num);
    if (this.items.size > 0) {
      batch.put(key, encodeHold({ state: this.state, deadline: this.deadline, maxDeliveries: this.maxDeliveries, deadLetter: this.deadLetter, ranges: this.ranges() }));
      this.persisted = true;
    } else if (this.persisted) {
      batch.del(key);
      this.persisted = false;
    }
  }

  /** Its items as ranges of consecutive sequences of one run with the same counts and owner. */
  private ranges(): HoldRange[] {
    const out: HoldRange[] = [];
    let last: HoldRange | undefined;
    for (const h of this.items.values()) {
      if (last && h.seq === last.seq + last.count && h.run === last.run && h.deliveries === last.deliveries && h.owner === last.owner) {
        last.count++;
      } else {
        last = { seq: h.seq, count: 1, run: h.run, deliveries: h.deliveries, owner: h.owner };
        out.push(last);
      }
    }
    return out;
  }

  /** Whether `owner`'s reservation still holds `h` (its lease has not ended). */
  static holds(h: Held, owner: number): boolean {
    return h.owner === owner && h.group.state === HOLD_LEASE;
  }
}

/**
 * Lazy min-heap entries: an entry is stale when its group's deadline moved or it holds
 * nothing. Ties end in group-number order (the order the groups were made), so that what
 * a set of leases ending together does (dead-letter moves, in order) is deterministic.
 */
interface Due {
  at: number;
  group: Group;
}

/** The engine's one timer on the earliest lease or delay deadline. */
export class LeaseTimer {
  private readonly heap: Due[] = [];
  private timer: LongTimer | undefined;
  private timerAt = Infinity;
  private stopped = false;

  constructor(
    private readonly now: () => number,
    /** Failures of a lease end run from the timer (a store that stopped): reported, not thrown. */
    private readonly onError: (err: unknown) => void,
  ) {}

  schedule(group: Group): void {
    this.push({ at: group.deadline, group });
    this.arm();
  }

  /** Ends every lease and delay due by the store's clock now; cheap when none is. */
  runDue(): void {
    if (this.heap.length === 0 || this.heap[0]!.at > this.now()) return;
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const { at, group } = this.pop();
      if (group.deadline !== at || !group.holding || group.items.size === 0) continue;
      group.host.groupDue(group, now);
    }
  }

  stop(): void {
    this.stopped = true;
    this.timer?.clear();
    this.timer = undefined;
  }

  private arm(): void {
    if (this.stopped || this.heap.length === 0) return;
    const at = this.heap[0]!.at;
    if (this.timer && this.timerAt <= at) return;
    this.timer?.clear();
    this.timerAt = at;
    // At least a few ms: a test's clock that runs behind must not make this spin.
    this.timer = setLongTimeout(() => this.fire(), Math.max(5, at - this.now()), true);
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped) return;
    try {
      this.runDue();
    } catch (err) {
      this.onError(err);
    }
    // Drop stale entries at the top so that the timer aims at a real deadline.
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (top.group.deadline === top.at && top.group.holding && top.group.items.size > 0) break;
      this.pop();
    }
    if (this.heap.length > 0) this.arm();
  }

  private push(d: Due): void {
    const h = this.heap;
    h.push(d);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(d, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = d;
  }

  private pop(): Due {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = -1;
        let least = last;
        if (l < h.length && before(h[l]!, least)) {
          m = l;
          least = h[l]!;
        }
        if (r < h.length && before(h[r]!, least)) m = r;
        if (m < 0) break;
        h[i] = h[m]!;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

function before(a: Due, b: Due): boolean {
  return a.at < b.at || (a.at === b.at && a.group.num < b.group.num);
}

/** A reservation's token: the item's partition number and sequence, and its owner. */
export function reservationToken(partNum: number, seq: number, owner: number): string {
  return `${partNum}.${seq}.${owner}`;
}

/** What parseToken read. */
export interface TokenParts {
  partNum: number;
  seq: number;
  owner: number;
}

/**
 * Reads a token ("partNum.seq.owner", each 1 to 16 digits) into `out`; false if it is not
 * one. By hand rather than with a regular expression: an ack of 100 reservations reads
 * 100 tokens, and this makes no garbage.
 */
export function parseToken(token: unknown, out: TokenParts): boolean {
  if (typeof token !== "string") return false;
  const length = token.length;
  let at = 0;
  for (let part = 0; part < 3; part++) {
    const start = at;
    let value = 0;
    while (at < length) {
      const digit = token.charCodeAt(at) - 48;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
      at++;
    }
    const digits = at - start;
    if (digits === 0 || digits > 16) return false;
    // Past 15 digits the sum may round differently from Number(): read those as Number() does.
    if (digits > 15) value = Number(token.slice(start, at));
    if (part < 2) {
      if (at >= length || token.charCodeAt(at) !== 46) return false;
      at++;
    }
    if (part === 0) out.partNum = value;
    else if (part === 1) out.seq = value;
    else out.owner = value;
  }
  return at === length;
}
