// Dict state and operations. Entries live in LevelDB under the dict's current data number;
// entries written by batches that are not yet durable are also kept in `pending`, so that
// operations see them (a second skipIfExists put finds the first) and readers can wait for
// their batch instead of returning bytes that are not on disk yet.

import assert from "node:assert/strict";
import { InvalidError, RequestSizeError, ResourceExhaustedError } from "../proto/errors.ts";
import { isCanonicalKey } from "../proto/keys.ts";
import { asBuffer } from "../proto/msgpack.ts";
import { checkBytes } from "../proto/validate.ts";
import type { DictScanPage, DictScanRequest } from "../proto/backend.ts";
import type { Batch, Dirty } from "./commit.ts";
import type { Core } from "./core.ts";
import type { Receipt } from "./requests.ts";
import type { Collector } from "./gc.ts";
import {
  decodeDictEntry,
  deadlineAfter,
  dictEntryKey,
  dictKeyOf,
  dictPrefix,
  dictStatsKey,
  encodeDictEntry,
  encodeDictStats,
  prefixEnd,
  ttlDictKey,
  TTL_ENTRY_VALUE,
  type StoredEntry,
} from "./layout.ts";

/** A page of `items()` stops at this many value bytes even if `limit` entries were not reached. */
const SCAN_PAGE_BYTES_MAX = 8 * 1024 * 1024;
/** A read refreshes an entry's TTL at most this often (and at most every ttl/1000). */
const REFRESH_GRANULARITY_MS_MAX = 1000;

interface Pending {
  /** null: deleted by the pending batch */
  entry: StoredEntry | null;
  batch: Batch;
}

/** One key of the dict as an operation sees it: looked up once, then read or written. */
interface Slot {
  /** the encoded dict key */
  readonly key: Buffer;
  /** the key as a latin1 string: its name in `pending` */
  readonly id: string;
  /** the LevelDB key of the entry */
  readonly entryKey: Buffer;
  /** the entry as stored, expired or not; undefined when there is none */
  readonly stored: StoredEntry | undefined;
  /** the batch that wrote it, when not yet durable */
  readonly batch: Batch | undefined;
}

function entrySize(key: Uint8Array, payload: Uint8Array): number {
  return key.length + payload.length;
}

export class DictState implements Dirty {
  count = 0;
  bytes = 0;
  /** set when the dict is deleted: its counts must not be written again */
  dead = false;
  private pending = new Map<string, Pending>();
  /** ids written into the open batch: dropped from `pending` once that batch is durable */
  private written: string[] = [];

  constructor(
    private readonly core: Core,
    private readonly gc: Collector,
    public dataNum: number,
    public entryTtlMs: number | undefined,
    readonly label: string,
  ) {}

  flush(batch: Batch): void {
    const ids = this.written;
    if (ids.length > 0) {
      this.written = [];
      const map = this.pending;
      batch.onCommitted(() => {
        for (const id of ids) if (map.get(id)?.batch === batch) map.delete(id);
      });
    }
    if (this.dead) return;
    batch.put(dictStatsKey(this.dataNum), encodeDictStats(this.count, this.bytes));
  }

  // ---- reading ----

  private find(key: Buffer, id = key.toString("latin1")): Slot {
    const entryKey = dictEntryKey(this.dataNum, key);
    const pending = this.pending.get(id);
    if (pending) return { key, id, entryKey, stored: pending.entry ?? undefined, batch: pending.batch };
    const raw = this.core.db.getSync(entryKey);
    return { key, id, entryKey, stored: raw === undefined ? undefined : decodeDictEntry(raw, entryKey), batch: undefined };
  }

  private live(found: Slot, now: number): StoredEntry | undefined {
    return found.stored && found.stored.expiresAt > now ? found.stored : undefined;
  }

  /**
   * Reads refresh a TTL entry, at most once per granularity step and without waiting for
   * the write. The entry is looked up again: the read may have waited for a batch, and
   * the entry may have changed since.
   */
  private touch(key: Buffer, entry: StoredEntry, now: number): void {
    const ttl = this.entryTtlMs;
    // The deadline a write now would give the entry: Infinity without a TTL, and for a TTL
    // too large to reach. An entry written under another TTL (the dict's TTL changed since)
    // gets the current one from this read, whether it is longer, shorter or never.
    const target = ttl === undefined ? Infinity : deadlineAfter(now, ttl);
    if (target === entry.expiresAt) return;
    if (ttl !== undefined && target !== Infinity && entry.expiresAt !== Infinity) {
      const step = Math.min(REFRESH_GRANULARITY_MS_MAX, ttl / 1000);
      if (Math.abs(target - entry.expiresAt) < step) return;
    }
    const slot = this.find(key);
    const current = this.live(slot, now);
    if (!current) return;
    try {
      this.write(slot, current.payload);
    } catch {
      // The store is closing (or failed): a refresh is best effort, the read still stands.
    }
  }

  // ---- writing ----

  /** Writes (or with payload null, deletes) the slot's entry, keeping counts and the ttl index exact. */
  private write(slot: Slot, payload: Uint8Array | null): Batch {
    const batch = this.core.batch();
    const { key, id, entryKey } = slot;
    const old = slot.stored;
    if (old) {
      this.bytes -= entrySize(key, old.payload);
      this.count--;
      if (old.expiresAt !== Infinity) batch.del(ttlDictKey(old.expiresAt, this.dataNum, key));
    }
    let entry: StoredEntry | null = null;
    if (payload === null) {
      batch.del(entryKey);
    } else {
      const expiresAt = this.entryTtlMs === undefined ? Infinity : deadlineAfter(this.core.now(), this.entryTtlMs);
      batch.put(entryKey, encodeDictEntry(payload, expiresAt));
      if (expiresAt !== Infinity) batch.put(ttlDictKey(expiresAt, this.dataNum, key), TTL_ENTRY_VALUE);
      entry = { payload: asBuffer(payload), expiresAt };
      this.bytes += entrySize(key, payload);
      this.count++;
    }
    // The counts change by exactly the entry written or deleted, and never go below zero.
    if (!(this.count >= 0 && this.bytes >= 0)) assert.fail(`${this.label}: ${this.count} entries of ${this.bytes} bytes after a write`);
    this.pending.set(id, { entry, batch });
    this.written.push(id);
    this.core.committer.markDirty(this);
    return batch;
  }

  private checkKey(key: Uint8Array): Buffer {
    if (!(key instanceof Uint8Array)) throw new InvalidError("dict keys travel as encoded bytes");
    checkBytes("dict key", key.length, this.core.limits.dictKeyBytesMax);
    if (!isCanonicalKey(key)) throw new InvalidError("dict key bytes are not a canonical key encoding");
    return asBuffer(key);
  }

  private checkValue(value: Uint8Array): void {
    if (!(value instanceof Uint8Array) || value.length === 0) throw new InvalidError("dict values travel as encoded bytes");
    checkBytes("dict value", value.length, this.core.limits.dictValueBytesMax);
  }

  private fits(delta: number): boolean {
    return this.bytes + delta <= this.core.limits.dictBytesMax;
  }

  private tooBig(delta: number): ResourceExhaustedError {
    const max = this.core.limits.dictBytesMax;
    return new ResourceExhaustedError(`${this.label} would hold ${this.bytes + delta} bytes, over dictBytesMax ${max}`);
  }

  /**
   * Entries past their ttl count towards dictBytesMax until swept. A write that would not
   * fit first sweeps what is due, then the caller checks again from the start.
   */
  private async sweptRoom(): Promise<boolean> {
    if (this.entryTtlMs === undefined) return false;
    await this.core.sweepDue();
    return true;
  }

  // ---- operations ----

  async get(keyBytes: Uint8Array): Promise<Uint8Array | undefined> {
    const key = this.checkKey(keyBytes);
    const now = this.core.now();
    const found = this.find(key);
    const entry = this.live(found, now);
    if (found.batch) await found.batch.readable;
    if (!entry) return undefined;
    this.touch(key, entry, now);
    return entry.payload;
  }

  async contains(keyBytes: Uint8Array): Promise<boolean> {
    const key = this.checkKey(keyBytes);
    const now = this.core.now();
    const found = this.find(key);
    const entry = this.live(found, now);
    if (found.batch) await found.batch.readable;
    if (entry) this.touch(key, entry, now);
    return entry !== undefined;
  }

  async put(keyBytes: Uint8Array, value: Uint8Array, skipIfExists: boolean, receipt?: Receipt, retried = false): Promise<boolean> {
    const key = this.checkKey(keyBytes);
    this.checkValue(value);
    const found = this.find(key);
    if (skipIfExists && this.live(found, this.core.now())) {
      if (found.batch) await found.batch.readable;
      return false;
    }
    const old = found.stored;
    const delta = entrySize(key, value) - (old ? entrySize(key, old.payload) : 0);
    if (!this.fits(delta)) {
      if (retried || !(await this.sweptRoom())) throw this.tooBig(delta);
      return this.put(keyBytes, value, skipIfExists, receipt, true);
    }
    const batch = this.write(found, value);
    receipt?.(batch, true);
    await batch.done;
    return true;
  }

  async update(entries: Array<[Uint8Array, Uint8Array]>, receipt?: Receipt, retried = false): Promise<void> {
    if (!Array.isArray(entries)) throw new InvalidError("update takes a list of [key, value] pairs");
    const max = this.core.limits.dictUpdateEntriesMax;
    if (entries.length > max) {
      throw new RequestSizeError(`update of ${entries.length} entries is over dictUpdateEntriesMax ${max}`);
    }
    // Every check happens before the first write, so a rejected update writes nothing. A key
    // given twice is written once, with its last value, as writing both in order would end.
    const slots = new Map<string, { slot: Slot; value: Uint8Array }>();
    for (const pair of entries) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidError("update takes a list of [key, value] pairs");
      const key = this.checkKey(pair[0]);
      const value = pair[1];
      this.checkValue(value);
      const id = key.toString("latin1");
      const seen = slots.get(id);
      if (seen) seen.value = value;
      else slots.set(id, { slot: this.find(key, id), value });
    }
    let delta = 0;
    for (const { slot, value } of slots.values()) {
      delta += entrySize(slot.key, value) - (slot.stored ? entrySize(slot.key, slot.stored.payload) : 0);
    }
    if (!this.fits(delta)) {
      if (retried || !(await this.sweptRoom())) throw this.tooBig(delta);
      return this.update(entries, receipt, true);
    }
    let batch: Batch | undefined;
    for (const { slot, value } of slots.values()) batch = this.write(slot, value);
    if (!batch) return;
    receipt?.(batch, undefined);
    await batch.done;
  }

  async pop(keyBytes: Uint8Array, receipt?: Receipt): Promise<Uint8Array | undefined> {
    const key = this.checkKey(keyBytes);
    const found = this.find(key);
    const entry = this.live(found, this.core.now());
    if (!entry) {
      if (found.batch) await found.batch.readable;
      return undefined;
    }
    const batch = this.write(found, null);
    receipt?.(batch, entry.payload);
    await batch.done;
    return entry.payload;
  }

  async clear(): Promise<void> {
    // Switch to a fresh data number at once; the old entries are garbage, deleted in the
    // background, and nothing can write under the old number again.
    const batch = this.core.batch();
    const old = this.dataNum;
    batch.del(dictStatsKey(old));
    this.gc.discardDictData(batch, old);
    this.dataNum = this.core.allocate();
    this.count = 0;
    this.bytes = 0;
    this.pending = new Map();
    this.core.committer.markDirty(this);
    await batch.done;
  }

  /** Removes an entry whose ttl has passed (the sweeper calls this for each due index key). */
  expire(dictKey: Buffer, now: number): void {
    const found = this.find(dictKey);
    if (found.stored && found.stored.expiresAt <= now) this.write(found, null);
  }

  async scan(request: DictScanRequest): Promise<DictScanPage> {
    const limit = request.limit;
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidError("scan limit must be a positive integer");
    // Scans read LevelDB directly: first let every write submitted so far become durable.
    await this.core.committer.barrier();
    const prefix = dictPrefix(this.dataNum);
    const start = request.after === undefined ? undefined : dictEntryKey(this.dataNum, this.checkKey(request.after));
    const now = this.core.now();
    const entries: Array<[Uint8Array, Uint8Array]> = [];
    let bytes = 0;
    const iterator = this.core.db.iterator({
      ...(start ? { gt: start } : { gte: prefix }),
      lt: prefixEnd(prefix),
    });
    try {
      for (;;) {
        const batch = await iterator.nextv(Math.min(limit - entries.length + 1, 1000));
        if (batch.length === 0) return { entries, more: false };
        for (const [key, raw] of batch) {
          if (entries.length >= limit || bytes >= SCAN_PAGE_BYTES_MAX) return { entries, more: true };
          const stored = decodeDictEntry(raw, key);
          if (stored.expiresAt <= now) continue;
          entries.push([dictKeyOf(key), request.values ? stored.payload : EMPTY]);
          bytes += request.values ? stored.payload.length : 0;
        }
      }
    } finally {
      await iterator.close();
    }
  }
}

const EMPTY = new Uint8Array(0);
