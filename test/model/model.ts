// A small, obviously-correct model of one queue and one dict: plain arrays and maps, with
// the spec's limits and expiry written out literally. test/engine/model.test.ts drives the real
// store and this model with the same random commands and compares every answer.

import { encodeKey } from "../../proto/keys.ts";
import { encodeValue } from "../../proto/values.ts";

/** Small limits, so that random sequences reach every one of them. */
export const MODEL_LIMITS = {
  queuePartitionsMax: 3,
  queuePartitionItemsMax: 6,
  queueItemBytesMax: 40,
  partitionTtlMs: 5_000,
  dictValueBytesMax: 40,
  dictKeyBytesMax: 12,
  dictUpdateEntriesMax: 3,
  dictBytesMax: 200,
};

export const DICT_TTL_MS = 3_000;

export type Outcome<T> = { ok: T } | { error: string };

interface ModelHold {
  /** the group that holds it: one per reserve call, a new one when a call moves one item of several */
  group: number;
  kind: "lease" | "delay";
  until: number;
  /** the group of the reserve call that reserved it: its reservations' identity */
  owner: number;
  maxDeliveries: number;
  deadLetter: string | undefined;
}

/** An item: its place is its index in its partition, reserved or not. */
interface ModelItem {
  value: unknown;
  /** the item's identity, kept when it is dead-lettered */
  id: number;
  deliveries: number;
  hold: ModelHold | undefined;
}

interface ModelPartition {
  items: ModelItem[];
  expiresAt: number;
}

/** A reservation the model handed out, named as the real one is: its item and its owner. */
export interface ModelReservation {
  id: number;
  owner: number;
}

export interface ReserveTerms {
  leaseMs: number;
  maxDeliveries?: number;
  deadLetterPartition?: string;
}

interface ModelEntry {
  value: unknown;
  expiresAt: number;
}

export class Model {
  now: number;
  readonly partitions = new Map<string | undefined, ModelPartition>();
  readonly dict = new Map<string, ModelEntry>();
  /** Reservations handed out since the last restart, in order (the real ones are in the same order). */
  readonly handed: ModelReservation[] = [];

  constructor(start: number) {
    this.now = start;
  }

  // ---- queue ----

  private nextId = 0;
  private nextGroup = 0;

  private live(partition: string | undefined): ModelPartition | undefined {
    const p = this.partitions.get(partition);
    if (p && p.expiresAt <= this.now) this.partitions.delete(partition);
    return this.partitions.get(partition);
  }

  private liveCount(): number {
    for (const key of [...this.partitions.keys()]) this.live(key);
    return this.partitions.size;
  }

  /** Where an item is now, by identity. */
  private find(id: number): { name: string | undefined; p: ModelPartition; at: number } | undefined {
    for (const [name, p] of this.partitions) {
      if (p.expiresAt <= this.now) continue;
      const at = p.items.findIndex((item) => item.id === id);
      if (at >= 0) return { name, p, at };
    }
    return undefined;
  }

  private remove(name: string | undefined, p: ModelPartition, at: number): ModelItem {
    const [item] = p.items.splice(at, 1);
    if (p.items.length === 0) this.partitions.delete(name);
    return item!;
  }

  /**
   * Ends every lease and delay due by now, in the order of their deadlines, then of their
   * groups: what the engine does before every queue call.
   */
  private due(): void {
    const groups = new Map<number, { until: number; name: string | undefined }>();
    for (const [name, p] of this.partitions) {
      for (const item of p.items) if (item.hold && item.hold.until <= this.now) groups.set(item.hold.group, { until: item.hold.until, name });
    }
    const order = [...groups].sort((a, b) => a[1].until - b[1].until || a[0] - b[0]);
    for (const [group, { name }] of order) {
      const p = this.live(name);
      if (!p) continue;
      for (const item of p.items.filter((i) => i.hold?.group === group)) {
        const hold = item.hold!;
        if (hold.kind === "lease" && hold.maxDeliveries > 0 && item.deliveries >= hold.maxDeliveries) {
          this.deadLetter(name, p, item);
        } else {
          item.hold = undefined;
        }
      }
    }
  }

  /** An item delivered maxDeliveries times whose lease ended: to the tail of its dead-letter partition, or dropped. */
  private deadLetter(name: string | undefined, p: ModelPartition, item: ModelItem): void {
    const dlq = item.hold!.deadLetter;
    this.remove(name, p, p.items.indexOf(item));
    item.hold = undefined;
    if (dlq === undefined) return;
    const target = this.live(dlq) ?? { items: [], expiresAt: Infinity };
    target.items.push(item);
    target.expiresAt = this.now + MODEL_LIMITS.partitionTtlMs;
    this.partitions.set(dlq, target);
  }

  putMany(partition: string | undefined, values: unknown[], ttlMs: number | undefined): Outcome<void> {
    this.due();
    if (values.some((v) => encodeValue(v).length > MODEL_LIMITS.queueItemBytesMax)) return { error: "TOO_LARGE" };
    if (values.length > MODEL_LIMITS.queuePartitionItemsMax) return { error: "TOO_LARGE" };
    if (values.length === 0) return { ok: undefined };
    const p = this.live(partition);
    if (p && p.items.length + values.length > MODEL_LIMITS.queuePartitionItemsMax) return { error: "QUEUE_FULL" };
    if (!p && this.liveCount() >= MODEL_LIMITS.queuePartitionsMax) return { error: "RESOURCE_EXHAUSTED" };
    const target = p ?? { items: [], expiresAt: Infinity };
    for (const value of values) target.items.push({ value, id: this.nextId++, deliveries: 0, hold: undefined });
    const ttl = ttlMs ?? MODEL_LIMITS.partitionTtlMs;
    target.expiresAt = ttl === Infinity ? Infinity : this.now + ttl;
    this.partitions.set(partition, target);
    return { ok: undefined };
  }

  getMany(partition: string | undefined, n: number): Outcome<unknown[]> {
    this.due();
    const p = this.live(partition);
    const visible = p?.items.filter((item) => !item.hold).slice(0, n) ?? [];
    if (visible.length === 0) return { error: "QUEUE_EMPTY" };
    for (const item of visible) this.remove(partition, p!, p!.items.indexOf(item));
    return { ok: visible.map((item) => item.value) };
  }

  reserve(partition: string | undefined, n: number, terms: ReserveTerms): Outcome<Array<{ value: unknown; deliveries: number; reservation: ModelReservation }>> {
    this.due();
    const p = this.live(partition);
    const visible = p?.items.filter((item) => !item.hold).slice(0, n) ?? [];
    if (visible.length === 0) return { error: "QUEUE_EMPTY" };
    const group = this.nextGroup++;
    const hold = { group, kind: "lease" as const, until: this.now + terms.leaseMs, owner: group, maxDeliveries: terms.maxDeliveries ?? 0, deadLetter: terms.deadLetterPartition };
    return {
      ok: visible.map((item) => {
        item.deliveries++;
        item.hold = { ...hold };
        return { value: item.value, deliveries: item.deliveries, reservation: { id: item.id, owner: group } };
      }),
    };
  }

  /** The item a reservation still holds, or undefined when its lease ended or the item is gone. */
  private held(r: ModelReservation): { name: string | undefined; p: ModelPartition; item: ModelItem } | undefined {
    const found = this.find(r.id);
    if (!found) return undefined;
    const item = found.p.items[found.at]!;
    return item.hold?.kind === "lease" && item.hold.owner === r.owner ? { name: found.name, p: found.p, item } : undefined;
  }

  /** The answer of q.ack(list): the indexes refused (item still there, lease ended). */
  ack(list: ModelReservation[]): number[] {
    this.due();
    const refused: number[] = [];
    list.forEach((r, i) => {
      const held = this.held(r);
      if (held) this.remove(held.name, held.p, held.p.items.indexOf(held.item));
      else if (this.find(r.id)) refused.push(i);
    });
    return refused;
  }

  /** Gives a held item a new hold: its group changes in place when it holds only this item. */
  private regroup(p: ModelPartition, item: ModelItem, next: Omit<ModelHold, "group"> | undefined): void {
    const hold = item.hold!;
    const others = [...this.partitions.values()].some((q) => q.items.some((i) => i !== item && i.hold?.group === hold.group));
    const group = others ? this.nextGroup++ : hold.group;
    item.hold = next === undefined ? undefined : { ...next, group };
    void p;
  }

  release(r: ModelReservation, delayMs: number): Outcome<void> {
    this.due();
    const held = this.held(r);
    if (!held) return { error: "LEASE_EXPIRED" };
    const { name, p, item } = held;
    const hold = item.hold!;
    if (hold.maxDeliveries > 0 && item.deliveries >= hold.maxDeliveries) this.deadLetter(name, p, item);
    else this.regroup(p, item, delayMs > 0 ? { ...hold, kind: "delay", until: this.now + delayMs } : undefined);
    return { ok: undefined };
  }

  extend(r: ModelReservation, ms: number): Outcome<number> {
    this.due();
    const held = this.held(r);
    if (!held) return { error: "LEASE_EXPIRED" };
    this.regroup(held.p, held.item, { ...held.item.hold!, until: this.now + ms });
    return { ok: this.now + ms };
  }

  len(partition: string | undefined): number {
    this.due();
    return this.live(partition)?.items.length ?? 0;
  }

  lenTotal(): number {
    this.due();
    this.liveCount();
    let total = 0;
    for (const p of this.partitions.values()) total += p.items.length;
    return total;
  }

  clear(partition: string | undefined): void {
    this.due();
    this.partitions.delete(partition);
  }

  clearAll(): void {
    this.due();
    this.partitions.clear();
  }

  peek(partition: string | undefined): unknown[] {
    this.due();
    return (this.live(partition)?.items ?? []).map((item) => item.value);
  }

  // ---- dict ----

  private entry(key: string): ModelEntry | undefined {
    const e = this.dict.get(key);
    if (e && e.expiresAt <= this.now) this.dict.delete(key);
    return this.dict.get(key);
  }

  /** A read refreshes the entry's ttl. */
  private read(key: string): ModelEntry | undefined {
    const e = this.entry(key);
    if (e) e.expiresAt = this.now + DICT_TTL_MS;
    return e;
  }

  private sizeCheck(key: string, value: unknown): string | undefined {
    if (encodeKey(key).length > MODEL_LIMITS.dictKeyBytesMax) return "TOO_LARGE";
    if (encodeValue(value).length > MODEL_LIMITS.dictValueBytesMax) return "TOO_LARGE";
    return undefined;
  }

  private sweep(): void {
    for (const key of [...this.dict.keys()]) this.entry(key);
  }

  put(key: string, value: unknown, skipIfExists: boolean): Outcome<boolean> {
    const bad = this.sizeCheck(key, value);
    if (bad) return { error: bad };
    if (skipIfExists && this.entry(key)) return { ok: false };
    return this.write([[key, value]]) ?? { ok: true };
  }

  update(entries: Array<[string, unknown]>): Outcome<void> {
    if (entries.length > MODEL_LIMITS.dictUpdateEntriesMax) return { error: "TOO_LARGE" };
    for (const [k, v] of entries) {
      const bad = this.sizeCheck(k, v);
      if (bad) return { error: bad };
    }
    return this.write(entries) ?? { ok: undefined };
  }

  private write(entries: Array<[string, unknown]>): { error: string } | undefined {
    this.sweep();
    const after = new Map(this.dict);
    for (const [k, v] of entries) after.set(k, { value: v, expiresAt: this.now + DICT_TTL_MS });
    let total = 0;
    for (const [k, e] of after) total += encodeKey(k).length + encodeValue(e.value).length;
    if (total > MODEL_LIMITS.dictBytesMax) return { error: "RESOURCE_EXHAUSTED" };
    for (const [k, e] of after) this.dict.set(k, e);
    return undefined;
  }

  /** Every call with a key over dictKeyBytesMax is refused, reads included. */
  private keyTooLarge(key: string): boolean {
    return encodeKey(key).length > MODEL_LIMITS.dictKeyBytesMax;
  }

  get(key: string): Outcome<unknown> {
    if (this.keyTooLarge(key)) return { error: "TOO_LARGE" };
    return { ok: this.read(key)?.value };
  }

  contains(key: string): Outcome<boolean> {
    if (this.keyTooLarge(key)) return { error: "TOO_LARGE" };
    return { ok: this.read(key) !== undefined };
  }

  pop(key: string): Outcome<unknown> {
    if (this.keyTooLarge(key)) return { error: "TOO_LARGE" };
    const e = this.entry(key);
    if (!e) return { error: "KEY_NOT_FOUND" };
    this.dict.delete(key);
    return { ok: e.value };
  }

  dictLen(): number {
    this.sweep();
    return this.dict.size;
  }

  dictClear(): void {
    this.dict.clear();
  }

  items(): Array<[string, unknown]> {
    this.sweep();
    return [...this.dict].map(([k, e]) => [k, e.value] as [string, unknown]).sort((a, b) => Buffer.compare(encodeKey(a[0]), encodeKey(b[0])));
  }
}
