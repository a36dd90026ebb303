// One round: the data calls that waited while the previous round ran, applied in arrival
// order in ONE transaction with a fixed number of statements, whatever their count:
//
//   1. lock the objects they name (FOR KEY SHARE: a concurrent delete waits for us)
//   2. create missing partition rows of puts and lock them (one upsert); lock the
//      partition rows only got from (FOR UPDATE)
//   3. lock this round's counter stripe of every dict written and read their byte totals;
//      create placeholder rows for dict keys written and lock them (one upsert); read the rest
//   4. apply every call in JavaScript, in order, against the locked rows (a get reads the
//      runs it needs, runs.ts)
//   5. one statement of data-modifying CTEs: delete consumed runs, insert new runs, write
//      partition rows, dict entries and counters; and one NOTIFY
//
// Sequence numbers come from the locked partition row's tail, so FIFO holds in commit
// order across processes; exactly one skipIfExists put or pop wins a key because both
// hold the key's row lock. Items put and taken in the same round never reach a table.

import type pg from "pg";
import { single, type TransactionOptions } from "./db.ts";
import { NotFoundError, ResourceExhaustedError } from "../proto/errors.ts";
import type { Limits } from "../proto/limits.ts";
import { STATS_STRIPES } from "./schema.ts";
import { CHANNEL, partitionToken, payloadOf } from "./wakeups.ts";
import { decodeRun, encodeRun, splitRuns } from "./runs.ts";
import { Statement } from "./statement.ts";
import { claimCte, recordedOutcomes, settleCtes } from "./requests.ts";

/** A read refreshes an entry's TTL at most this often (and at most every ttl/1000), as the embedded engine. */
const REFRESH_GRANULARITY_MS_MAX = 1000;

/** A call that changes state may carry its request id (requests.ts): applied once, its outcome recorded. */
type Once = { requestId?: string | undefined };

export type RoundOp =
  | { kind: "dictRead"; id: string; key: Buffer; contains: boolean; requestId?: undefined }
  | ({ kind: "dictPut"; id: string; key: Buffer; value: Buffer; skipIfExists: boolean } & Once)
  | ({ kind: "dictUpdate"; id: string; entries: Array<[Buffer, Buffer]> } & Once)
  | ({ kind: "dictPop"; id: string; key: Buffer } & Once)
  | ({ kind: "queuePut"; id: string; pkey: Buffer; values: Buffer[]; ttlMs: number } & Once)
  | ({ kind: "queueGet"; id: string; pkey: Buffer; n: number } & Once);

/** What a call got: a value, or an error for that call alone (the round still commits). */
export type OpResult = { ok: true; value: unknown } | { ok: false; error: Error };

/** A queue put that found no room answers this; its caller waits or fails with QueueFullError. */
export class Full {
  /** when the partition expires (its items go, making room), on the store's clock */
  constructor(readonly expiresAt: number) {}
}

interface PartitionState {
  queueId: string;
  pkey: Buffer;
  head: number;
  tail: number;
  /** tail when locked: seqs below are in larder_items, seqs from here are `fresh` */
  lockedTail: number;
  /** first seq of the run holding head (runs in the table cover [headRun, lockedTail)) */
  headRun: number;
  /** runs read from the table this round, decoded, by first seq, in order */
  runs: Map<number, Buffer[]>;
  /** the end of the runs read so far (reads go on from here) */
  loadedTo: number;
  /** first seqs of runs whose last item this round took: their rows go */
  consumed: number[];
  /** every run in the table goes (clear or expiry) */
  cleared: boolean;
  expiresAt: number;
  fresh: Buffer[];
  dirty: boolean;
  /** items arrived: getters may go on */
  filled: boolean;
  /** items left: putters may go on */
  emptied: boolean;
  /** count before the round: a NOTIFY for room goes out only when putters may be waiting */
  countBefore: number;
  /** held items and had not expired before the round (counted in larder_partitions as live) */
  liveBefore: boolean;
}

interface EntryState {
  dictId: string;
  key: Buffer;
  value: Buffer | null;
  expiresAt: number;
  /** locked by this round (written keys), else read only */
  locked: boolean;
  dirty: boolean;
}

interface ObjectState {
  kind: string;
  entryTtlMs: number | undefined;
}

export interface RoundOutcome {
  results: OpResult[];
  /** partition ids (queueId \0 pkey latin1) that received items */
  filled: Set<string>;
  /** partition ids that lost items */
  emptied: Set<string>;
}

export function partitionId(queueId: string, pkey: Uint8Array): string {
  return `${queueId}\0${Buffer.from(pkey.buffer, pkey.byteOffset, pkey.byteLength).toString("latin1")}`;
}

function entryId(dictId: string, key: Buffer): string {
  return `${dictId}\0${key.toString("latin1")}`;
}

/** `now + ttl`, rounded up; Infinity once past what a double holds exactly (as the embedded engine). */
export function deadlineAfter(now: number, ttlMs: number): number {
  const at = Math.ceil(now + ttlMs);
  return at > Number.MAX_SAFE_INTEGER ? Infinity : at;
}

function sizeOf(key: Buffer, value: Buffer): number {
  return key.length + value.length;
}

/**
 * A round of dict reads alone: one statement, no transaction (a read racing a delete may
 * see the object either way, as in any order of the two), and a TTL refresh after it when
 * entries need one.
 */
export async function readRound(pool: pg.Pool, ops: ReadonlyArray<Extract<RoundOp, { kind: "dictRead" }>>, now: number, options: TransactionOptions): Promise<OpResult[]> {
  const { rows } = await single<{ i: number; kind: string | null; entry_ttl_ms: number | null; value: Buffer | null; expires_at: number | null }>(
    pool,
    `SELECT u.i, o.kind, o.entry_ttl_ms, e.value, e.expires_at
     FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS u(d, k, i)
     LEFT JOIN larder_objects o ON o.id = u.d
     LEFT JOIN larder_dict_entries e ON e.dict_id = u.d AND e.key = u.k AND e.value IS NOT NULL`,
    [ops.map((op) => op.id), ops.map((op) => op.key)],
    options,
  );
  const results: OpResult[] = new Array(ops.length);
  const refresh = new Map<string, { dictId: string; key: Buffer; expiresAt: number }>();
  for (const row of rows) {
    const i = row.i - 1;
    const op = ops[i]!;
    if (row.kind !== "dict") {
      results[i] = { ok: false, error: new NotFoundError(`Dict ${op.id} not found (deleted)`) };
      continue;
    }
    const live = row.value !== null && row.expires_at! > now;
    results[i] = { ok: true, value: op.contains ? live : live ? row.value : undefined };
    if (!live) continue;
    const target = refreshTarget(row.expires_at!, row.entry_ttl_ms ?? undefined, now);
    if (target !== undefined) refresh.set(entryId(op.id, op.key), { dictId: op.id, key: op.key, expiresAt: target });
  }
  if (refresh.size > 0) {
    const r = [...refresh.values()];
    // Best effort, as the embedded engine's: the read stands whatever happens to the refresh.
    await single(
      pool,
      `UPDATE larder_dict_entries e SET expires_at = u.x FROM unnest($1::text[], $2::bytea[], $3::float8[]) AS u(d, k, x)
       WHERE e.dict_id = u.d AND e.key = u.k AND e.value IS NOT NULL AND e.expires_at > $4`,
      [r.map((e) => e.dictId), r.map((e) => e.key), r.map((e) => e.expiresAt), now],
      options,
    ).catch(() => {});
  }
  return results;
}

/** The deadline a read moves an entry to, or undefined when it stays (as dicts.ts touch()). */
function refreshTarget(expiresAt: number, ttl: number | undefined, now: number): number | undefined {
  const target = ttl === undefined ? Infinity : deadlineAfter(now, ttl);
  if (target === expiresAt) return undefined;
  if (ttl !== undefined && target !== Infinity && expiresAt !== Infinity) {
    const step = Math.min(REFRESH_GRANULARITY_MS_MAX, ttl / 1000);
    if (Math.abs(target - expiresAt) < step) return undefined;
  }
  return target;
}

export class Round {
  private readonly results: OpResult[];
  private readonly objects = new Map<string, ObjectState>();
  private readonly partitions = new Map<string, PartitionState>();
  private readonly entries = new Map<string, EntryState>();
  /** dict id -> bytes stored (all stripes) when the round began, plus this round's changes */
  private readonly dictBytes = new Map<string, number>();
  private readonly statsDelta = new Map<string, { count: number; bytes: number }>();
  /** queue id -> live partitions (with items, not expired) in the table before the round */
  private readonly livePartitions = new Map<string, number>();
  private readonly refreshes: EntryState[] = [];
  private readonly stripe = Math.floor(Math.random() * STATS_STRIPES);
  /** calls answered from the record of an earlier attempt (their request id was applied) */
  private readonly answered = new Set<number>();

  constructor(
    private readonly ops: readonly RoundOp[],
    private readonly now: number,
    private readonly limits: Limits,
  ) {
    this.results = new Array(ops.length);
  }

  async run(client: pg.ClientBase): Promise<RoundOutcome> {
    await this.lockObjects(client);
    await this.lockPartitions(client);
    await this.lockDicts(client);
    for (let i = 0; i < this.ops.length; i++) if (!this.answered.has(i)) await this.apply(client, i);
    await this.write(client);
    const filled = new Set<string>();
    const emptied = new Set<string>();
    for (const [pid, p] of this.partitions) {
      if (p.filled) filled.add(pid);
      if (p.emptied) emptied.add(pid);
    }
    return { results: this.results, filled, emptied };
  }

  // ---- locking ----

  /**
   * Locks the objects named and, in the same statement, claims the calls' request ids
   * (requests.ts): a call whose id an earlier attempt applied is answered with that
   * attempt's outcome and takes no further part in the round.
   */
  private async lockObjects(client: pg.ClientBase): Promise<void> {
    const ids = [...new Set(this.ops.map((op) => op.id))].sort();
    const requestIds = this.ops.flatMap((op) => (op.requestId === undefined ? [] : [op.requestId]));
    if (requestIds.length === 0) {
      const { rows } = await client.query<{ id: string; kind: string; entry_ttl_ms: number | null }>(
        "SELECT id, kind, entry_ttl_ms FROM larder_objects WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE",
        [ids],
      );
      for (const row of rows) this.objects.set(row.id, { kind: row.kind, entryTtlMs: row.entry_ttl_ms ?? undefined });
      return;
    }
    const sql = new Statement();
    const claimed = claimCte(sql, requestIds, this.now);
    const objects = sql.cte(`SELECT id, kind, entry_ttl_ms FROM larder_objects WHERE id = ANY(${sql.param(ids)}::text[]) ORDER BY id FOR KEY SHARE`);
    const { rows } = await client.query<{ id: string; kind: string | null; entry_ttl_ms: number | null }>(
      `WITH ${sql.parts.join(",\n")}
       SELECT id, kind, entry_ttl_ms FROM ${objects} UNION ALL SELECT id, NULL, NULL FROM ${claimed}`,
      sql.params,
    );
    const claims = new Set<string>();
    for (const row of rows) {
      if (row.kind === null) claims.add(row.id);
      else this.objects.set(row.id, { kind: row.kind, entryTtlMs: row.entry_ttl_ms ?? undefined });
    }
    const outcomes = await recordedOutcomes(client, requestIds.filter((id) => !claims.has(id)));
    for (let i = 0; i < this.ops.length; i++) {
      const id = this.ops[i]!.requestId;
      if (id === undefined || !outcomes.has(id)) continue;
      this.results[i] = { ok: true, value: outcomes.get(id) };
      this.answered.add(i);
    }
  }

  /** The calls taking part in the round: all but those answered from a record. */
  private *applied(): Generator<RoundOp> {
    for (let i = 0; i < this.ops.length; i++) if (!this.answered.has(i)) yield this.ops[i]!;
  }

  private found(i: number, kind: "dict" | "queue"): ObjectState | undefined {
    const op = this.ops[i]!;
    const obj = this.objects.get(op.id);
    if (obj && obj.kind === kind) return obj;
    this.results[i] = { ok: false, error: new NotFoundError(`${kind === "dict" ? "Dict" : "Queue"} ${op.id} not found (deleted)`) };
    return undefined;
  }

  private async lockPartitions(client: pg.ClientBase): Promise<void> {
    const touched = new Map<string, { queueId: string; pkey: Buffer; put: boolean }>();
    for (const op of this.applied()) {
      if (op.kind !== "queuePut" && op.kind !== "queueGet") continue;
      if (this.objects.get(op.id)?.kind !== "queue") continue;
      const pid = partitionId(op.id, op.pkey);
      const t = touched.get(pid);
      if (t) t.put ||= op.kind === "queuePut";
      else touched.set(pid, { queueId: op.id, pkey: op.pkey, put: op.kind === "queuePut" });
    }
    if (touched.size === 0) return;
    const sorted = [...touched.values()].sort((a, b) => (a.queueId < b.queueId ? -1 : a.queueId > b.queueId ? 1 : Buffer.compare(a.pkey, b.pkey)));
    type Row = { queue_id: string; pkey: Buffer; head: number; head_run: number; tail: number; expires_at: number };
    const rows: Row[] = [];
    const puts = sorted.filter((t) => t.put);
    const getsOnly = sorted.filter((t) => !t.put);
    if (puts.length > 0) {
      // Creates the rows that are missing and locks (and reads) those that exist, in key
      // order, in one statement: ON CONFLICT DO UPDATE takes the row lock as an UPDATE does.
      const result = await client.query<Row>(
        `INSERT INTO larder_partitions AS p (queue_id, pkey, gen, head, head_run, tail, expires_at)
         SELECT q, k, (random() * 9007199254740991)::bigint, 0, 0, 0, 'Infinity' FROM unnest($1::text[], $2::bytea[]) AS u(q, k)
         ON CONFLICT (queue_id, pkey) DO UPDATE SET head = p.head
         RETURNING p.queue_id, p.pkey, p.head, p.head_run, p.tail, p.expires_at`,
        [puts.map((t) => t.queueId), puts.map((t) => t.pkey)],
      );
      rows.push(...result.rows);
    }
    if (getsOnly.length > 0) {
      const result = await client.query<Row>(
        `SELECT p.queue_id, p.pkey, p.head, p.head_run, p.tail, p.expires_at FROM larder_partitions p
         JOIN unnest($1::text[], $2::bytea[]) AS u(q, k) ON p.queue_id = u.q AND p.pkey = u.k
         ORDER BY p.queue_id, p.pkey FOR UPDATE OF p`,
        [getsOnly.map((t) => t.queueId), getsOnly.map((t) => t.pkey)],
      );
      rows.push(...result.rows);
    }
    for (const row of rows) {
      this.partitions.set(partitionId(row.queue_id, row.pkey), {
        queueId: row.queue_id,
        pkey: row.pkey,
        head: row.head,
        tail: row.tail,
        lockedTail: row.tail,
        headRun: row.head_run,
        runs: new Map(),
        loadedTo: row.head_run,
        consumed: [],
        cleared: false,
        expiresAt: row.expires_at,
        fresh: [],
        dirty: false,
        filled: false,
        emptied: false,
        countBefore: row.tail - row.head,
        liveBefore: row.tail > row.head && row.expires_at > this.now,
      });
    }
  }

  private async lockDicts(client: pg.ClientBase): Promise<void> {
    const written = new Map<string, { dictId: string; key: Buffer }>();
    const read = new Map<string, { dictId: string; key: Buffer }>();
    for (const op of this.applied()) {
      if (this.objects.get(op.id)?.kind !== "dict") continue;
      const add = (map: typeof written, key: Buffer): void => void map.set(entryId(op.id, key), { dictId: op.id, key });
      if (op.kind === "dictPut" || op.kind === "dictPop") add(written, op.key);
      else if (op.kind === "dictUpdate") for (const [key] of op.entries) add(written, key);
      else if (op.kind === "dictRead") add(read, op.key);
    }
    if (written.size > 0) {
      const dicts = [...new Set([...written.values()].map((w) => w.dictId))].sort();
      // This round's stripe first (a clear locks every stripe before it touches entries),
      // and the dicts' byte totals in the same statement.
      const { rows: totals } = await client.query<{ dict_id: string; bytes: number }>(
        `WITH mine AS (SELECT dict_id FROM larder_dict_stats WHERE dict_id = ANY($1::text[]) AND stripe = $2 ORDER BY dict_id FOR UPDATE)
         SELECT s.dict_id, sum(s.bytes)::bigint AS bytes FROM larder_dict_stats s WHERE s.dict_id IN (SELECT dict_id FROM mine) GROUP BY s.dict_id`,
        [dicts, this.stripe],
      );
      for (const row of totals) this.dictBytes.set(row.dict_id, row.bytes);
      const sorted = [...written.values()].sort((a, b) => (a.dictId < b.dictId ? -1 : a.dictId > b.dictId ? 1 : Buffer.compare(a.key, b.key)));
      // A placeholder row (value NULL) for each missing key, so that there is a row to lock;
      // existing rows are locked (and read) by the no-op update, in key order.
      const { rows } = await client.query<{ dict_id: string; key: Buffer; value: Buffer | null; expires_at: number }>(
        `INSERT INTO larder_dict_entries AS e (dict_id, key) SELECT * FROM unnest($1::text[], $2::bytea[])
         ON CONFLICT (dict_id, key) DO UPDATE SET expires_at = e.expires_at
         RETURNING e.dict_id, e.key, e.value, e.expires_at`,
        [sorted.map((w) => w.dictId), sorted.map((w) => w.key)],
      );
      for (const row of rows) {
        this.entries.set(entryId(row.dict_id, row.key), { dictId: row.dict_id, key: row.key, value: row.value, expiresAt: row.expires_at, locked: true, dirty: false });
      }
      // A key whose placeholder a concurrent clear or delete removed before we locked it: absent, and written as new.
      for (const [eid, w] of written) {
        if (!this.entries.has(eid)) this.entries.set(eid, { dictId: w.dictId, key: w.key, value: null, expiresAt: Infinity, locked: true, dirty: false, });
      }
    }
    for (const eid of written.keys()) read.delete(eid);
    if (read.size > 0) {
      const list = [...read.values()];
      const { rows } = await client.query<{ dict_id: string; key: Buffer; value: Buffer; expires_at: number }>(
        `SELECT e.dict_id, e.key, e.value, e.expires_at FROM larder_dict_entries e
         JOIN unnest($1::text[], $2::bytea[]) AS u(d, k) ON e.dict_id = u.d AND e.key = u.k
         WHERE e.value IS NOT NULL`,
        [list.map((r) => r.dictId), list.map((r) => r.key)],
      );
      for (const row of rows) {
        this.entries.set(entryId(row.dict_id, row.key), { dictId: row.dict_id, key: row.key, value: row.value, expiresAt: row.expires_at, locked: false, dirty: false });
      }
    }
  }

  // ---- applying ----

  private async apply(client: pg.ClientBase, i: number): Promise<void> {
    const op = this.ops[i]!;
    try {
      switch (op.kind) {
        case "dictRead": {
          const dict = this.found(i, "dict");
          if (!dict) return;
          const entry = this.live(op.id, op.key);
          if (entry) this.touch(entry, dict);
          this.results[i] = { ok: true, value: op.contains ? entry !== undefined : entry?.value ?? undefined };
          return;
        }
        case "dictPut": {
          const dict = this.found(i, "dict");
          if (!dict) return;
          if (op.skipIfExists && this.live(op.id, op.key)) {
            this.results[i] = { ok: true, value: false };
            return;
          }
          this.checkRoom(op.id, [[op.key, op.value]]);
          this.writeEntry(this.slot(op.id, op.key), op.value, dict);
          this.results[i] = { ok: true, value: true };
          return;
        }
        case "dictUpdate": {
          const dict = this.found(i, "dict");
          if (!dict) return;
          const last = new Map<string, [Buffer, Buffer]>();
          for (const pair of op.entries) last.set(pair[0].toString("latin1"), pair);
          this.checkRoom(op.id, [...last.values()]);
          for (const [key, value] of last.values()) this.writeEntry(this.slot(op.id, key), value, dict);
          this.results[i] = { ok: true, value: undefined };
          return;
        }
        case "dictPop": {
          const dict = this.found(i, "dict");
          if (!dict) return;
          const entry = this.live(op.id, op.key);
          if (!entry) {
            this.results[i] = { ok: true, value: undefined };
            return;
          }
          const value = entry.value!;
          this.writeEntry(entry, null, dict);
          this.results[i] = { ok: true, value };
          return;
        }
        case "queuePut": {
          if (!this.found(i, "queue")) return;
          this.results[i] = { ok: true, value: await this.put(client, op.id, op.pkey, op.values, op.ttlMs) };
          return;
        }
        case "queueGet": {
          if (!this.found(i, "queue")) return;
          await this.take(client, i, op.id, op.pkey, op.n);
          return;
        }
      }
    } catch (err) {
      if (err instanceof ResourceExhaustedError) this.results[i] = { ok: false, error: err };
      else throw err;
    }
  }

  private slot(dictId: string, key: Buffer): EntryState {
    return this.entries.get(entryId(dictId, key))!;
  }

  private live(dictId: string, key: Buffer): EntryState | undefined {
    const entry = this.entries.get(entryId(dictId, key));
    return entry && entry.value !== null && entry.expiresAt > this.now ? entry : undefined;
  }

  /** A read refreshes the entry's deadline, as the embedded engine does (dicts.ts touch()). */
  private touch(entry: EntryState, dict: ObjectState): void {
    const target = refreshTarget(entry.expiresAt, dict.entryTtlMs, this.now);
    if (target === undefined) return;
    entry.expiresAt = target;
    if (entry.locked) entry.dirty = true;
    else if (!this.refreshes.includes(entry)) this.refreshes.push(entry);
  }

  private checkRoom(dictId: string, pairs: Array<[Buffer, Buffer]>): void {
    let delta = 0;
    for (const [key, value] of pairs) {
      const old = this.slot(dictId, key).value;
      delta += sizeOf(key, value) - (old ? sizeOf(key, old) : 0);
    }
    const bytes = this.dictBytes.get(dictId) ?? 0;
    const max = this.limits.dictBytesMax;
    if (bytes + delta > max) {
      throw new ResourceExhaustedError(`Dict ${dictId} would hold ${bytes + delta} bytes, over dictBytesMax ${max}`);
    }
  }

  private writeEntry(entry: EntryState, value: Buffer | null, dict: ObjectState): void {
    const stats = this.statsDelta.get(entry.dictId) ?? { count: 0, bytes: 0 };
    this.statsDelta.set(entry.dictId, stats);
    let bytes = this.dictBytes.get(entry.dictId) ?? 0;
    if (entry.value !== null) {
      stats.count--;
      stats.bytes -= sizeOf(entry.key, entry.value);
      bytes -= sizeOf(entry.key, entry.value);
    }
    entry.value = value;
    if (value !== null) {
      stats.count++;
      stats.bytes += sizeOf(entry.key, value);
      bytes += sizeOf(entry.key, value);
      entry.expiresAt = dict.entryTtlMs === undefined ? Infinity : deadlineAfter(this.now, dict.entryTtlMs);
    }
    this.dictBytes.set(entry.dictId, bytes);
    entry.dirty = true;
  }

  private partition(queueId: string, pkey: Buffer): PartitionState | undefined {
    const p = this.partitions.get(partitionId(queueId, pkey));
    if (p && p.tail > p.head && p.expiresAt <= this.now) this.clearPartition(p);
    return p;
  }

  private clearPartition(p: PartitionState): void {
    if (p.headRun < p.lockedTail) p.cleared = true;
    p.fresh = [];
    p.head = p.tail;
    p.lockedTail = p.tail;
    p.headRun = p.tail;
    p.runs = new Map();
    p.loadedTo = p.tail;
    p.consumed = [];
    p.dirty = true;
    p.emptied = true;
  }

  private async put(client: pg.ClientBase, queueId: string, pkey: Buffer, values: Buffer[], ttlMs: number): Promise<unknown> {
    const p = this.partition(queueId, pkey);
    // Created above, then removed by a sweep that held it: run the round again.
    if (!p) throw Object.assign(new Error("partition row vanished while the round locked it"), { code: "40001" });
    const count = p.tail - p.head;
    const max = this.limits.queuePartitionItemsMax;
    if (count + values.length > max) return new Full(p.expiresAt);
    if (count === 0) {
      const live = await this.livePartitionsOf(client, queueId);
      const partitionsMax = this.limits.queuePartitionsMax;
      if (live >= partitionsMax) {
        throw new ResourceExhaustedError(`Queue ${queueId} already has ${live} partitions, the limit (queuePartitionsMax ${partitionsMax})`);
      }
    }
    p.fresh.push(...values);
    p.tail += values.length;
    p.expiresAt = deadlineAfter(this.now, ttlMs);
    p.dirty = true;
    p.filled = true;
    return undefined;
  }

  /** Live partitions of the queue now: the table's count (as before the round) plus this round's changes. */
  private async livePartitionsOf(client: pg.ClientBase, queueId: string): Promise<number> {
    let live = this.livePartitions.get(queueId);
    if (live === undefined) {
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(*)::bigint AS n FROM larder_partitions WHERE queue_id = $1 AND tail > head AND expires_at > $2",
        [queueId, this.now],
      );
      live = rows[0]!.n;
      this.livePartitions.set(queueId, live);
    }
    for (const p of this.partitions.values()) {
      if (p.queueId === queueId) live += Number(p.tail > p.head) - Number(p.liveBefore);
    }
    return live;
  }

  private async take(client: pg.ClientBase, i: number, queueId: string, pkey: Buffer, n: number): Promise<void> {
    const p = this.partition(queueId, pkey);
    const k = p ? Math.min(n, p.tail - p.head) : 0;
    if (!p || k === 0) {
      this.results[i] = { ok: true, value: [] };
      return;
    }
    const to = p.head + k;
    const out: Buffer[] = [];
    // Items in the table: [head, lockedTail), in runs from headRun.
    const dbTo = Math.min(to, p.lockedTail);
    if (p.head < dbTo) {
      if (p.loadedTo < dbTo) await this.loadRuns(client, p, dbTo);
      for (const [first, values] of p.runs) {
        const end = first + values.length;
        if (end <= p.head) continue;
        for (let seq = Math.max(first, p.head); seq < Math.min(end, dbTo); seq++) out.push(values[seq - first]!);
        if (end <= dbTo) {
          p.consumed.push(first);
          p.runs.delete(first);
          p.headRun = end;
        } else {
          p.headRun = first;
        }
        if (end >= dbTo) break;
      }
      if (out.length !== dbTo - p.head) throw new Error(`larder: partition ${p.queueId} has ${out.length} of items ${p.head}..${dbTo} in larder_items`);
      p.head = dbTo;
    }
    // Items put in this round: [lockedTail, tail), taken from the front of `fresh`.
    if (to > p.head) {
      out.push(...p.fresh.splice(0, to - p.head));
      p.head = to;
      p.lockedTail = to;
      p.headRun = to;
    }
    this.results[i] = { ok: true, value: out };
    p.dirty = true;
    p.emptied = true;
  }

  /** Reads the runs of `p` from where the last read stopped up to the one holding seq `to - 1`. */
  private async loadRuns(client: pg.ClientBase, p: PartitionState, to: number): Promise<void> {
    const { rows } = await client.query<{ seq: number; value: Buffer }>(
      "SELECT seq, value FROM larder_items WHERE queue_id = $1 AND pkey = $2 AND seq >= $3 AND seq < $4 ORDER BY seq",
      [p.queueId, p.pkey, p.loadedTo, to],
    );
    for (const row of rows) {
      const values = decodeRun(row.value);
      p.runs.set(row.seq, values);
      p.loadedTo = row.seq + values.length;
    }
  }

  // ---- writing ----

  /**
   * Every write of the round in ONE statement: data-modifying CTEs (item deletes and
   * inserts, partition rows, dict entries, counters) and the NOTIFY, answering with the
   * values taken. The parts touch disjoint rows, so running them on one snapshot is safe;
   * the rows they depend on are locked by the statements before.
   */
  private async write(client: pg.ClientBase): Promise<void> {
    const sql = new Statement();
    this.deleteRuns(sql);
    this.insertItems(sql);
    this.writePartitions(sql);
    this.writeEntries(sql);
    this.writeStats(sql);
    this.writeRequests(sql);
    const notify = this.notifyPayload();
    if (sql.parts.length === 0 && notify === undefined) return;
    const main = notify === undefined ? "SELECT 1" : `SELECT pg_notify(${sql.param(CHANNEL)}, ${sql.param(notify)})`;
    await client.query(`${sql.parts.length > 0 ? `WITH ${sql.parts.join(",\n")}\n` : ""}${main}`, sql.params);
  }

  /** Runs whose last item was taken, and every run of a cleared or expired partition. */
  private deleteRuns(sql: Statement): void {
    const cleared = [...this.partitions.values()].filter((p) => p.cleared);
    if (cleared.length > 0) {
      sql.cte(
        `DELETE FROM larder_items i USING unnest(${sql.param(cleared.map((p) => p.queueId))}::text[], ${sql.param(cleared.map((p) => p.pkey))}::bytea[]) AS r(q, k)
         WHERE i.queue_id = r.q AND i.pkey = r.k`,
      );
    }
    const runs = [...this.partitions.values()].filter((p) => !p.cleared).flatMap((p) => p.consumed.map((first) => [p, first] as const));
    if (runs.length > 0) {
      sql.cte(
        `DELETE FROM larder_items i USING unnest(${sql.param(runs.map(([p]) => p.queueId))}::text[], ${sql.param(runs.map(([p]) => p.pkey))}::bytea[], ${sql.param(runs.map(([, f]) => f))}::bigint[]) AS r(q, k, f)
         WHERE i.queue_id = r.q AND i.pkey = r.k AND i.seq = r.f`,
      );
    }
  }

  private insertItems(sql: Statement): void {
    // One row per run, each run its own (binary) parameter: no hex encoding of values.
    const rows: string[] = [];
    for (const p of this.partitions.values()) {
      if (p.fresh.length === 0) continue;
      const q = sql.param(p.queueId);
      const k = sql.param(p.pkey);
      let first = p.lockedTail;
      for (const run of splitRuns(p.fresh)) {
        rows.push(`(${q}::text,${k}::bytea,${sql.param(first)}::bigint,${sql.param(encodeRun(run))}::bytea)`);
        first += run.length;
      }
    }
    if (rows.length > 0) sql.cte(`INSERT INTO larder_items (queue_id, pkey, seq, value) VALUES ${rows.join(",")}`);
  }

  private writePartitions(sql: Statement): void {
    const dirty = [...this.partitions.values()].filter((p) => p.dirty);
    if (dirty.length === 0) return;
    sql.cte(
      `UPDATE larder_partitions p SET head = u.h, head_run = u.r, tail = u.t, expires_at = u.e
       FROM unnest(${sql.param(dirty.map((p) => p.queueId))}::text[], ${sql.param(dirty.map((p) => p.pkey))}::bytea[], ${sql.param(dirty.map((p) => p.head))}::bigint[], ${sql.param(dirty.map((p) => (p.head === p.tail ? p.tail : p.headRun)))}::bigint[], ${sql.param(dirty.map((p) => p.tail))}::bigint[], ${sql.param(dirty.map((p) => p.expiresAt))}::float8[]) AS u(q, k, h, r, t, e)
       WHERE p.queue_id = u.q AND p.pkey = u.k`,
    );
  }

  private writeEntries(sql: Statement): void {
    const locked = [...this.entries.values()].filter((e) => e.locked);
    const gone = locked.filter((e) => e.value === null);
    const kept = locked.filter((e) => e.value !== null && e.dirty);
    if (gone.length > 0) {
      sql.cte(
        `DELETE FROM larder_dict_entries e USING unnest(${sql.param(gone.map((e) => e.dictId))}::text[], ${sql.param(gone.map((e) => e.key))}::bytea[]) AS u(d, k) WHERE e.dict_id = u.d AND e.key = u.k`,
      );
    }
    if (kept.length > 0) {
      const rows = kept.map((e) => `(${sql.param(e.dictId)}::text,${sql.param(e.key)}::bytea,${sql.param(e.value)}::bytea,${sql.param(e.expiresAt)}::float8)`);
      sql.cte(
        `UPDATE larder_dict_entries e SET value = u.v, expires_at = u.x FROM (VALUES ${rows.join(",")}) AS u(d, k, v, x)
         WHERE e.dict_id = u.d AND e.key = u.k`,
      );
    }
    const r = this.refreshes;
    if (r.length > 0) {
      sql.cte(
        `UPDATE larder_dict_entries e SET expires_at = u.x FROM unnest(${sql.param(r.map((e) => e.dictId))}::text[], ${sql.param(r.map((e) => e.key))}::bytea[], ${sql.param(r.map((e) => e.expiresAt))}::float8[]) AS u(d, k, x)
         WHERE e.dict_id = u.d AND e.key = u.k AND e.value IS NOT NULL AND e.expires_at > ${sql.param(this.now)}`,
      );
    }
  }

  private writeStats(sql: Statement): void {
    const changed = [...this.statsDelta].filter(([, d]) => d.count !== 0 || d.bytes !== 0);
    if (changed.length === 0) return;
    sql.cte(
      `UPDATE larder_dict_stats s SET count = s.count + u.c, bytes = s.bytes + u.b
       FROM unnest(${sql.param(changed.map(([id]) => id))}::text[], ${sql.param(changed.map(([, d]) => d.count))}::bigint[], ${sql.param(changed.map(([, d]) => d.bytes))}::bigint[]) AS u(d, c, b)
       WHERE s.dict_id = u.d AND s.stripe = ${sql.param(this.stripe)}`,
    );
  }

  /** The outcomes of the calls with request ids that changed something; the claims of the others go. */
  private writeRequests(sql: Statement): void {
    const recorded: Array<[string, unknown]> = [];
    const dropped: string[] = [];
    for (let i = 0; i < this.ops.length; i++) {
      const op = this.ops[i]!;
      if (op.requestId === undefined || this.answered.has(i)) continue;
      const outcome = changedOutcome(op, this.results[i]!);
      if (outcome === undefined) dropped.push(op.requestId);
      else recorded.push([op.requestId, outcome.value]);
    }
    settleCtes(sql, recorded, dropped);
  }

  /** The NOTIFY payload: partitions that got items, and those that made room for putters. */
  private notifyPayload(): string | undefined {
    const tokens: string[] = [];
    const half = this.limits.queuePartitionItemsMax / 2;
    for (const p of this.partitions.values()) {
      // Room matters only to putters, who wait only on a partition that was nearly full.
      if (p.filled || (p.emptied && p.countBefore >= half)) tokens.push(partitionToken(p.queueId, p.pkey));
    }
    return tokens.length === 0 ? undefined : payloadOf(tokens);
  }
}

/** What a call returned when it changed something (the outcome to record), else undefined. */
function changedOutcome(op: RoundOp, result: OpResult): { value: unknown } | undefined {
  if (!result.ok) return undefined;
  switch (op.kind) {
    case "dictPut":
      return result.value === true ? { value: true } : undefined;
    case "dictPop":
      return result.value === undefined ? undefined : { value: result.value };
    case "queuePut":
      return result.value instanceof Full ? undefined : { value: undefined };
    case "queueGet":
      return (result.value as Buffer[]).length > 0 ? { value: result.value } : undefined;
    case "dictUpdate":
      return { value: undefined };
    case "dictRead":
      return undefined;
  }
}
