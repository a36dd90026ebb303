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

interface ModelPartition {
  items: unknown[];
  expiresAt: number;
}

interface ModelEntry {
  value: unknown;
  expiresAt: number;
}

export class Model {
  now: number;
  readonly partitions = new Map<string | undefined, ModelPartition>();
  readonly dict = new Map<string, ModelEntry>();

  constructor(start: number) {
    this.now = start;
  }

  // ---- queue ----

  private live(partition: string | undefined): ModelPartition | undefined {
    const p = this.partitions.get(partition);
    if (p && p.expiresAt <= this.now) this.partitions.delete(partition);
    return this.partitions.get(partition);
  }

  private liveCount(): number {
    for (const key of [...this.partitions.keys()]) this.live(key);
    return this.partitions.size;
  }

  putMany(partition: string | undefined, values: unknown[], ttlMs: number | undefined): Outcome<void> {
    if (values.some((v) => encodeValue(v).length > MODEL_LIMITS.queueItemBytesMax)) return { error: "TOO_LARGE" };
    if (values.length > MODEL_LIMITS.queuePartitionItemsMax) return { error: "TOO_LARGE" };
    if (values.length === 0) return { ok: undefined };
    const p = this.live(partition);
    if (p && p.items.length + values.length > MODEL_LIMITS.queuePartitionItemsMax) return { error: "QUEUE_FULL" };
    if (!p && this.liveCount() >= MODEL_LIMITS.queuePartitionsMax) return { error: "RESOURCE_EXHAUSTED" };
    const target = p ?? { items: [], expiresAt: Infinity };
    target.items.push(...values);
    const ttl = ttlMs ?? MODEL_LIMITS.partitionTtlMs;
    target.expiresAt = ttl === Infinity ? Infinity : this.now + ttl;
    this.partitions.set(partition, target);
    return { ok: undefined };
  }

  getMany(partition: string | undefined, n: number): Outcome<unknown[]> {
    const p = this.live(partition);
    if (!p) return { error: "QUEUE_EMPTY" };
    const taken = p.items.splice(0, n);
    if (p.items.length === 0) this.partitions.delete(partition);
    return { ok: taken };
  }

  len(partition: string | undefined): number {
    return this.live(partition)?.items.length ?? 0;
  }

  lenTotal(): number {
    this.liveCount();
    let total = 0;
    for (const p of this.partitions.values()) total += p.items.length;
    return total;
  }

  clear(partition: string | undefined): void {
    this.partitions.delete(partition);
  }

  clearAll(): void {
    this.partitions.clear();
  }

  peek(partition: string | undefined): unknown[] {
    return [...(this.live(partition)?.items ?? [])];
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
