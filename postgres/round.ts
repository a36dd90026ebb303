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
import { LeaseExpiredError, InvalidError } from "../proto/errors.ts";
import type { ReservedItem } from "../proto/backend.ts";
import {
  DEAD_LETTER_DUE, DELIVERIES_MAX, HELD_COLUMNS, deadLetterDue, formatToken, heldFromSql, holds, isVisible, newOwner, nextOrd, originOf,
  type HeldRow, type HeldRowSql, type LeaseTerms, type Token,
} from "./leases.ts";

/** Dead-letter moves made by one round at most (the rest by the next). */
export const DUE_ROWS_MAX = 1_024;

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
  | ({ kind: "queueGet"; id: string; pkey: Buffer; n: number } & Once)
  | ({ kind: "queueReserve"; id: string; pkey: Buffer; n: number; terms: LeaseTerms } & Once)
  | ({ kind: "queueAck"; id: string; tokens: Token[]; raw: string[] } & Once)
  | ({ kind: "queueRelease"; id: string; token: Token; delayMs: number; deadLetterHint: Buffer | null } & Once)
  | ({ kind: "queueExtend"; id: string; token: Token; ms: number } & Once)
  /** nothing but the round's own work: dead-letter moves due in the queue (leases.ts) */
  | { kind: "queueSettle"; id: string; requestId?: undefined };

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
  /** a held row's deadline came earlier (delayed release, shortened extend): getters re-arm */
  sooner: boolean;
  /** count before the round: a NOTIFY for room goes out only when putters may be waiting */
  countBefore: number;
  /** held items and had not expired before the round (counted in larder_partitions as live) */
  liveBefore: boolean;
  /** the partition row's incarnation (tokens name it) */
  gen: number;
  /** items below head still in it: one larder_reservations row each */
  held: number;
  /** past the last item dead-lettered into it */
  movedTo: number;
  /** rows of larder_reservations read or made this round, by seq */
  heldRows: Map<number, HeldRow>;
  /** the visible rows in the table were read (the first `need` of them) */
  visibleRead: boolean;
  /** items the round's gets and reserves may take from it */
  need: number;
  /** every larder_reservations row of it goes (clear or expiry) */
  heldCleared: boolean;
  /** deliveries of items dead-lettered into it, by seq (read once, plus this round's moves) */
  movedDeliveries: Map<number, number>;
  movedRead: boolean;
}

/** A dead-letter move made by the round: the item's old place and its new one. */
interface Move {
  queueId: string;
  from: { pkey: Buffer; gen: number; seq: number };
  to: { pkey: Buffer; gen: number; seq: number };
  deliveries: number;
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
  /** a queue with dead-letter moves due (leases.ts) */
  due: boolean;
}

export interface RoundOutcome {
  results: OpResult[];
  /** partition ids (queueId \0 pkey latin1) that received items */
  filled: Set<string>;
  /** partition ids that lost items */
  emptied: Set<string>;
  /** partition ids whose gets or reserves found nothing while items were held: when the next lease or delay there ends */
  leaseEnds: Map<string, number>;
}

export function partitionId(queueId: string, pkey: Uint8Array): string {
  return `${queueId}\0${Buffer.from(pkey.buffer, pkey.byteOffset, pkey.byteLength).toString("latin1")}`;
}

/** The partition's name as reservations carry it: undefined for the default partition. */
export function partitionName(pkey: Buffer): string | undefined {
  return pkey.length === 0 ? undefined : pkey.toString("utf8");
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
  /** dead-letter moves made by this round, in order */
  private readonly moves: Move[] = [];
  /** queue id \0 origin -> where a move of this round put the item */
  private readonly movedFrom = new Map<string, { pkey: Buffer; gen: number; seq: number }>();
  /** due dead-letter rows seen before locking: (queue, pkey) of origins and their dead-letter partitions */
  private dueTargets: Array<{ queueId: string; pkey: Buffer; deadLetter: Buffer | null }> = [];
  private readonly leaseEnds = new Map<string, number>();

  constructor(
    private readonly ops: readonly RoundOp[],
    private readonly now: number,
    private readonly limits: Limits,
  ) {
    this.results = new Array(ops.length);
  }

  async run(client: pg.ClientBase): Promise<RoundOutcome> {
    await this.lockObjects(client);
    await this.findDue(client);
    await this.lockPartitions(client);
    await this.lockDicts(client);
    await this.loadHeld(client);
    for (let i = 0; i < this.ops.length; i++) if (!this.answered.has(i)) await this.apply(client, i);
    await this.write(client);
    const filled = new Set<string>();
    const emptied = new Set<string>();
    for (const [pid, p] of this.partitions) {
      if (p.filled) filled.add(pid);
      if (p.emptied) emptied.add(pid);
    }
    return { results: this.results, filled, emptied, leaseEnds: this.leaseEnds };
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
    // Whether a queue has dead-letter moves due: an index probe (larder_reservations_due).
    const due = (now: string): string =>
      `(kind = 'queue' AND EXISTS (SELECT 1 FROM larder_reservations r WHERE r.queue_id = o.id AND ${DEAD_LETTER_DUE} AND r.deadline <= ${now}))`;
    type Row = { id: string; kind: string | null; entry_ttl_ms: number | null; due: boolean | null };
    const keep = (row: Row): void => void this.objects.set(row.id, { kind: row.kind!, entryTtlMs: row.entry_ttl_ms ?? undefined, due: row.due === true });
    if (requestIds.length === 0) {
      const { rows } = await client.query<Row>(
        `SELECT id, kind, entry_ttl_ms, ${due("$2")} AS due FROM larder_objects o WHERE id = ANY($1::text[]) ORDER BY id FOR KEY SHARE`,
        [ids, this.now],
      );
      for (const row of rows) keep(row);
      return;
    }
    const sql = new Statement();
    const claimed = claimCte(sql, requestIds, this.now);
    const objects = sql.cte(`SELECT id, kind, entry_ttl_ms, ${due(`${sql.param(this.now)}::float8`)} AS due FROM larder_objects o WHERE id = ANY(${sql.param(ids)}::text[]) ORDER BY id FOR KEY SHARE`);
    const { rows } = await client.query<Row>(
      `WITH ${sql.parts.join(",\n")}
       SELECT id, kind, entry_ttl_ms, due FROM ${objects} UNION ALL SELECT id, NULL, NULL, NULL FROM ${claimed}`,
      sql.params,
    );
    const claims = new Set<string>();
    for (const row of rows) {
      if (row.kind === null) claims.add(row.id);
      else keep(row);
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

  /**
   * Dead-letter moves due in the round's queues, read before any partition is locked: their
   * partitions and dead-letter partitions join the round's locks. What is due is read again
   * under the locks (loadHeld).
   */
  private async findDue(client: pg.ClientBase): Promise<void> {
    const queues = [...this.objects].filter(([, o]) => o.due).map(([id]) => id);
    if (queues.length === 0) return;
    const { rows } = await client.query<{ queue_id: string; pkey: Buffer; dead_letter: Buffer | null }>(
      `SELECT DISTINCT queue_id, pkey, dead_letter FROM larder_reservations
       WHERE queue_id = ANY($1::text[]) AND ${DEAD_LETTER_DUE} AND deadline <= $2`,
      [queues, this.now],
    );
    this.dueTargets = rows.map((r) => ({ queueId: r.queue_id, pkey: r.pkey, deadLetter: r.dead_letter }));
  }

  private async lockPartitions(client: pg.ClientBase): Promise<void> {
    const touched = new Map<string, { queueId: string; pkey: Buffer; put: boolean; need: number }>();
    const touch = (queueId: string, pkey: Buffer, put: boolean, need = 0): void => {
      const pid = partitionId(queueId, pkey);
      const t = touched.get(pid);
      if (t) {
        t.put ||= put;
        t.need += need;
      } else {
        touched.set(pid, { queueId, pkey, put, need });
      }
    };
    for (const op of this.applied()) {
      if (this.objects.get(op.id)?.kind !== "queue") continue;
      switch (op.kind) {
        case "queuePut":
          touch(op.id, op.pkey, true);
          break;
        case "queueGet":
        case "queueReserve":
          touch(op.id, op.pkey, false, op.n);
          break;
        case "queueAck":
          for (const t of op.tokens) touch(op.id, t.pkey, false);
          break;
        case "queueRelease":
          touch(op.id, op.token.pkey, false);
          // A release that uses up the deliveries moves the item there: like a put.
          if (op.deadLetterHint) touch(op.id, op.deadLetterHint, true);
          break;
        case "queueExtend":
          touch(op.id, op.token.pkey, false);
          break;
        default:
          break;
      }
    }
    for (const d of this.dueTargets) {
      touch(d.queueId, d.pkey, false);
      if (d.deadLetter) touch(d.queueId, d.deadLetter, true);
    }
    if (touched.size === 0) return;
    const sorted = [...touched.values()].sort((a, b) => (a.queueId < b.queueId ? -1 : a.queueId > b.queueId ? 1 : Buffer.compare(a.pkey, b.pkey)));
    type Row = { queue_id: string; pkey: Buffer; gen: number; head: number; head_run: number; tail: number; expires_at: number; held: number; moved_to: number };
    const columns = "p.queue_id, p.pkey, p.gen, p.head, p.head_run, p.tail, p.expires_at, p.held, p.moved_to";
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
         RETURNING ${columns}`,
        [puts.map((t) => t.queueId), puts.map((t) => t.pkey)],
      );
      rows.push(...result.rows);
    }
    if (getsOnly.length > 0) {
      const result = await client.query<Row>(
        `SELECT ${columns} FROM larder_partitions p
         JOIN unnest($1::text[], $2::bytea[]) AS u(q, k) ON p.queue_id = u.q AND p.pkey = u.k
         ORDER BY p.queue_id, p.pkey FOR UPDATE OF p`,
        [getsOnly.map((t) => t.queueId), getsOnly.map((t) => t.pkey)],
      );
      rows.push(...result.rows);
    }
    for (const row of rows) {
      const pid = partitionId(row.queue_id, row.pkey);
      this.partitions.set(pid, {
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
        sooner: false,
        countBefore: row.tail - row.head + row.held,
        liveBefore: (row.tail > row.head || row.held > 0) && row.expires_at > this.now,
        gen: row.gen,
        held: row.held,
        movedTo: row.moved_to,
        heldRows: new Map(),
        visibleRead: row.held === 0,
        need: touched.get(pid)!.need,
        heldCleared: false,
        movedDeliveries: new Map(),
        movedRead: row.moved_to <= row.head,
      });
    }
  }

  /**
   * Under the partition locks: the rows of larder_reservations that the round's acks,
   * releases and extends name, and the dead-letter moves due, which are made now, before
   * any call, in deadline order (the embedded engine ends leases before every call).
   */
  private async loadHeld(client: pg.ClientBase): Promise<void> {
    const named: Array<[PartitionState, number]> = [];
    for (const op of this.applied()) {
      const tokens = op.kind === "queueAck" ? op.tokens : op.kind === "queueRelease" || op.kind === "queueExtend" ? [op.token] : [];
      for (const t of tokens) {
        const p = this.partitions.get(partitionId(op.id, t.pkey));
        if (p && p.gen === t.gen && p.held > 0) named.push([p, t.seq]);
      }
    }
    if (named.length > 0) {
      const sql = new Statement();
      const { rows } = await client.query<HeldRowSql & { queue_id: string; pkey: Buffer }>(
        `SELECT r.queue_id, r.pkey, ${HELD_COLUMNS.split(", ").map((c) => `r.${c}`).join(", ")} FROM larder_reservations r WHERE ${heldKeys(sql, "r", named)}`,
        sql.params,
      );
      for (const row of rows) this.keepHeld(row);
    }
    const queues = [...new Set(this.dueTargets.map((d) => d.queueId))];
    if (queues.length === 0) return;
    const { rows } = await client.query<HeldRowSql & { queue_id: string; pkey: Buffer }>(
      `SELECT queue_id, pkey, ${HELD_COLUMNS} FROM larder_reservations
       WHERE queue_id = ANY($1::text[]) AND ${DEAD_LETTER_DUE} AND deadline <= $2 ORDER BY deadline, ord, seq LIMIT $3`,
      [queues, this.now, DUE_ROWS_MAX],
    );
    for (const sqlRow of rows) {
      const p = this.partition(sqlRow.queue_id, sqlRow.pkey);
      // Its partition (or its dead-letter partition) not locked: left for the next round.
      if (!p || (sqlRow.dead_letter && !this.partitions.has(partitionId(sqlRow.queue_id, sqlRow.dead_letter)))) continue;
      const r = this.keepHeld(sqlRow);
      if (r && deadLetterDue(r, this.now)) this.deadLetter(p, r);
    }
  }

  /** Adds a row read from the table to its partition's rows (a row the round changed already stays as it is). */
  private keepHeld(row: HeldRowSql & { queue_id: string; pkey: Buffer }): HeldRow | undefined {
    const p = this.partitions.get(partitionId(row.queue_id, row.pkey));
    if (!p || p.heldCleared) return undefined;
    const known = p.heldRows.get(row.seq);
    if (known) return known;
    const r = heldFromSql(row);
    p.heldRows.set(r.seq, r);
    return r;
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
          await this.get(client, i, op.id, op.pkey, op.n);
          return;
        }
        case "queueReserve": {
          if (!this.found(i, "queue")) return;
          await this.reserve(client, i, op.id, op.pkey, op.n, op.terms);
          return;
        }
        case "queueAck": {
          if (!this.found(i, "queue")) return;
          this.results[i] = { ok: true, value: await this.ack(client, op.id, op.tokens, op.raw) };
          return;
        }
        case "queueRelease": {
          if (!this.found(i, "queue")) return;
          this.release(op.id, op.token, op.delayMs);
          this.results[i] = { ok: true, value: undefined };
          return;
        }
        case "queueExtend": {
          if (!this.found(i, "queue")) return;
          this.results[i] = { ok: true, value: this.extend(op.id, op.token, op.ms) };
          return;
        }
        case "queueSettle": {
          if (!this.found(i, "queue")) return;
          this.results[i] = { ok: true, value: undefined };
          return;
        }
      }
    } catch (err) {
      if (err instanceof ResourceExhaustedError || err instanceof LeaseExpiredError || err instanceof InvalidError) this.results[i] = { ok: false, error: err };
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
    if (p && (p.tail > p.head || p.held > 0) && p.expiresAt <= this.now) this.clearPartition(p);
    return p;
  }

  private clearPartition(p: PartitionState): void {
    if (p.headRun < p.lockedTail) p.cleared = true;
    if (p.held > 0 || [...p.heldRows.values()].some((r) => r.inDb)) p.heldCleared = true;
    p.held = 0;
    p.heldRows = new Map();
    p.visibleRead = true;
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
    const count = p.tail - p.head + p.held;
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
        "SELECT count(*)::bigint AS n FROM larder_partitions WHERE queue_id = $1 AND (tail > head OR held > 0) AND expires_at > $2",
        [queueId, this.now],
      );
      live = rows[0]!.n;
      this.livePartitions.set(queueId, live);
    }
    for (const p of this.partitions.values()) {
      if (p.queueId === queueId) live += Number(p.tail > p.head || p.held > 0) - Number(p.liveBefore);
    }
    return live;
  }

  /** A get: the visible held items first (they are below head, in their places), then the head's. */
  private async get(client: pg.ClientBase, i: number, queueId: string, pkey: Buffer, n: number): Promise<void> {
    const p = this.partition(queueId, pkey);
    const out: Buffer[] = [];
    if (p && p.held > 0) {
      for (const r of await this.visibleHeld(client, p)) {
        if (out.length >= n) break;
        r.gone = true;
        p.held--;
        out.push(r.value);
      }
    }
    if (p && out.length < n) out.push(...(await this.takeFromHead(client, p, n - out.length)));
    this.results[i] = { ok: true, value: out };
    if (!p) return;
    if (out.length > 0) {
      p.dirty = true;
      p.emptied = true;
    } else {
      await this.noteLeaseEnd(client, p);
    }
  }

  /** A reserve: as a get, but the items stay, each a row of larder_reservations under one new lease. */
  private async reserve(client: pg.ClientBase, i: number, queueId: string, pkey: Buffer, n: number, terms: LeaseTerms): Promise<void> {
    const p = this.partition(queueId, pkey);
    const out: ReservedItem[] = [];
    this.results[i] = { ok: true, value: out };
    if (!p) return;
    const owner = newOwner();
    const ord = nextOrd();
    const deadline = deadlineAfter(this.now, terms.leaseMs);
    const lease = (r: HeldRow): void => {
      r.owner = owner;
      r.ord = ord;
      r.leased = true;
      r.deadline = deadline;
      r.maxDeliveries = terms.maxDeliveries;
      r.deadLetter = terms.deadLetter;
      r.dirty = true;
      out.push({ token: formatToken(p.pkey, p.gen, r.seq, owner), value: r.value, deliveries: r.deliveries, partition: partitionName(p.pkey), leaseEndsAt: deadline });
    };
    if (p.held > 0) {
      for (const r of await this.visibleHeld(client, p)) {
        if (out.length >= n) break;
        r.deliveries = Math.min(DELIVERIES_MAX, r.deliveries + 1);
        lease(r);
      }
    }
    if (out.length < n && p.tail > p.head) {
      const first = p.head;
      if (!p.movedRead) await this.readMoved(client, p);
      const values = await this.takeFromHead(client, p, n - out.length);
      for (let j = 0; j < values.length; j++) {
        const seq = first + j;
        const before = p.movedDeliveries.get(seq) ?? 0;
        const r: HeldRow = {
          seq, owner, ord, leased: true, deadline, deliveries: Math.min(DELIVERIES_MAX, before + 1), maxDeliveries: 0, deadLetter: null,
          value: values[j]!, inDb: false, gone: false, dirty: true,
        };
        p.heldRows.set(seq, r);
        p.held++;
        lease(r);
      }
    }
    if (out.length > 0) p.dirty = true;
    else await this.noteLeaseEnd(client, p);
  }

  /** Acks: the refused tokens (their lease ended and the item is still there). */
  private async ack(client: pg.ClientBase, queueId: string, tokens: Token[], raw: string[]): Promise<string[]> {
    // Every token is checked before anything is acked: a bad one acks nothing.
    for (const t of tokens) {
      const p = this.partition(queueId, t.pkey);
      if (p && p.gen === t.gen && t.seq >= p.head) throw new InvalidError("a reservation token is not one this store issued");
    }
    const refused: string[] = [];
    const elsewhere: number[] = [];
    for (let k = 0; k < tokens.length; k++) {
      const t = tokens[k]!;
      const p = this.partition(queueId, t.pkey);
      const r = p && p.gen === t.gen ? p.heldRows.get(t.seq) : undefined;
      if (r && !r.gone) {
        if (holds(r, t.owner, this.now)) {
          r.gone = true;
          p!.held--;
          p!.dirty = true;
          p!.emptied = true;
        } else {
          refused.push(raw[k]!);
        }
      } else {
        // No row, or one gone this round (acked, got, or dead-lettered: then still there elsewhere).
        elsewhere.push(k);
      }
    }
    if (elsewhere.length > 0) {
      const alive = await this.stillMoved(client, queueId, elsewhere.map((k) => tokens[k]!));
      for (let j = 0; j < elsewhere.length; j++) if (alive[j]) refused.push(raw[elsewhere[j]!]!);
    }
    // In the order given (as the embedded engine answers them).
    const order = new Map(raw.map((t, k) => [t, k]));
    return refused.sort((a, b) => order.get(a)! - order.get(b)!);
  }

  /** The row a token names, if this reservation still holds it; else LeaseExpiredError. */
  private held(queueId: string, t: Token, what: string): { p: PartitionState; r: HeldRow } {
    const p = this.partition(queueId, t.pkey);
    const r = p && p.gen === t.gen ? p.heldRows.get(t.seq) : undefined;
    if (!p || !holds(r, t.owner, this.now)) throw new LeaseExpiredError(`the lease of this reservation has ended: ${what} refused`);
    return { p, r };
  }

  private release(queueId: string, t: Token, delayMs: number): void {
    const { p, r } = this.held(queueId, t, "release");
    // The lease ends now: the maxDeliveries check happens now.
    if (r.maxDeliveries > 0 && r.deliveries >= r.maxDeliveries) {
      this.deadLetter(p, r);
      return;
    }
    r.leased = false;
    r.ord = nextOrd();
    r.dirty = true;
    p.dirty = true;
    if (delayMs > 0) {
      this.moveDeadline(p, r, deadlineAfter(this.now, delayMs));
    } else {
      r.deadline = -Infinity;
      p.filled = true;
    }
  }

  private extend(queueId: string, t: Token, ms: number): number {
    const { p, r } = this.held(queueId, t, "extend");
    this.moveDeadline(p, r, deadlineAfter(this.now, ms));
    r.ord = nextOrd();
    r.dirty = true;
    p.dirty = true;
    return r.deadline;
  }

  /**
   * Sets a held row's deadline. One earlier than it had (a delayed release, an extend that
   * shortens the lease) comes before the lease-end timers waiters armed from the old one:
   * waiters here re-arm from it (leaseEnds), and the partition is NOTIFYed (`p.sooner`) so
   * waiters in other processes retry and re-arm from the new min(deadline).
   */
  private moveDeadline(p: PartitionState, r: HeldRow, deadline: number): void {
    if (deadline < r.deadline) {
      p.sooner = true;
      const pid = partitionId(p.queueId, p.pkey);
      this.leaseEnds.set(pid, Math.min(this.leaseEnds.get(pid) ?? Infinity, deadline));
    }
    r.deadline = deadline;
  }

  /**
   * The item's lease ended with its deliveries used up: it moves to the tail of its
   * dead-letter partition (like a put there: its TTL from the store's default, no item cap),
   * with its count and where it was, or is dropped without one.
   */
  private deadLetter(p: PartitionState, r: HeldRow): void {
    r.gone = true;
    p.held--;
    p.dirty = true;
    p.emptied = true;
    if (!r.deadLetter) return;
    const dp = this.partition(p.queueId, r.deadLetter);
    // Locked by lockPartitions from the row's dead_letter, read before; run the round again if it changed.
    if (!dp) throw Object.assign(new Error("a dead-letter partition was not locked by the round"), { code: "40001" });
    dp.fresh.push(r.value);
    dp.tail++;
    dp.expiresAt = deadlineAfter(this.now, this.limits.partitionTtlMs);
    dp.dirty = true;
    dp.filled = true;
    const seq = dp.tail - 1;
    dp.movedTo = Math.max(dp.movedTo, seq + 1);
    dp.movedDeliveries.set(seq, r.deliveries);
    const move: Move = { queueId: p.queueId, from: { pkey: p.pkey, gen: p.gen, seq: r.seq }, to: { pkey: dp.pkey, gen: dp.gen, seq }, deliveries: r.deliveries };
    this.moves.push(move);
    this.movedFrom.set(`${p.queueId}\0${originOf(p.pkey, p.gen, r.seq)}`, move.to);
  }

  /** For tokens whose row is not there: whether their item was dead-lettered and is still in the queue. */
  private async stillMoved(client: pg.ClientBase, queueId: string, tokens: Token[]): Promise<boolean[]> {
    const origins = tokens.map((t) => originOf(t.pkey, t.gen, t.seq));
    const { rows } = await client.query<{ origin: string; pkey: Buffer; gen: number; seq: number; head: number | null; tail: number | null; pgen: number | null; expires_at: number | null; held: boolean }>(
      `SELECT m.origin, m.pkey, m.gen, m.seq, p.head, p.tail, p.gen AS pgen, p.expires_at,
              EXISTS (SELECT 1 FROM larder_reservations r WHERE r.queue_id = m.queue_id AND r.pkey = m.pkey AND r.seq = m.seq) AS held
       FROM larder_moved m LEFT JOIN larder_partitions p ON p.queue_id = m.queue_id AND p.pkey = m.pkey
       WHERE m.queue_id = $1 AND m.origin = ANY($2::text[])`,
      [queueId, origins],
    );
    const byOrigin = new Map(rows.map((r) => [r.origin, r]));
    return origins.map((origin) => {
      // Moved by this round (maybe again): follow it in memory.
      let at: { pkey: Buffer; gen: number; seq: number } | undefined = this.movedFrom.get(`${queueId}\0${origin}`);
      const row = byOrigin.get(origin);
      if (!at && row) at = { pkey: row.pkey, gen: row.gen, seq: row.seq };
      for (let hops = 0; at && hops < 64; hops++) {
        const next = this.movedFrom.get(`${queueId}\0${originOf(at.pkey, at.gen, at.seq)}`);
        if (!next) break;
        at = next;
      }
      if (!at) return false;
      const dp = this.partitions.get(partitionId(queueId, at.pkey));
      if (dp) {
        if (dp.gen !== at.gen || ((dp.tail > dp.head || dp.held > 0) && dp.expiresAt <= this.now)) return false;
        if (at.seq >= dp.head && at.seq < dp.tail) return true;
        const r = dp.heldRows.get(at.seq);
        if (r) return !r.gone;
        return !dp.heldCleared && row !== undefined && row.held && row.pkey.equals(at.pkey) && row.seq === at.seq;
      }
      if (!row || row.pgen !== at.gen || row.expires_at === null || row.expires_at <= this.now) return false;
      return (at.seq >= row.head! && at.seq < row.tail!) || row.held;
    });
  }

  /** The visible held items of `p`, in seq order: those changed by this round, and the first `need` in the table. */
  private async visibleHeld(client: pg.ClientBase, p: PartitionState): Promise<HeldRow[]> {
    if (!p.visibleRead) {
      p.visibleRead = true;
      const { rows } = await client.query<HeldRowSql>(
        `SELECT ${HELD_COLUMNS} FROM larder_reservations WHERE queue_id = $1 AND pkey = $2 AND deadline <= $3 AND NOT (${DEAD_LETTER_DUE})
         ORDER BY seq LIMIT $4`,
        [p.queueId, p.pkey, this.now, Math.max(1, p.need)],
      );
      for (const row of rows) if (!p.heldRows.has(row.seq)) p.heldRows.set(row.seq, heldFromSql(row));
    }
    return [...p.heldRows.values()].filter((r) => isVisible(r, this.now)).sort((a, b) => a.seq - b.seq);
  }

  /** Deliveries of the items dead-lettered into `p` from its head on (larder_moved). */
  private async readMoved(client: pg.ClientBase, p: PartitionState): Promise<void> {
    p.movedRead = true;
    const { rows } = await client.query<{ seq: number; deliveries: number }>(
      "SELECT seq, max(deliveries)::bigint AS deliveries FROM larder_moved WHERE queue_id = $1 AND pkey = $2 AND gen = $3 AND seq >= $4 GROUP BY seq",
      [p.queueId, p.pkey, p.gen, p.head],
    );
    for (const row of rows) if (!p.movedDeliveries.has(row.seq)) p.movedDeliveries.set(row.seq, row.deliveries);
  }

  /** A get or reserve found nothing while items are held: when the first of their leases or delays ends. */
  private async noteLeaseEnd(client: pg.ClientBase, p: PartitionState): Promise<void> {
    if (p.held === 0) return;
    let at = Infinity;
    for (const r of p.heldRows.values()) if (!r.gone && r.deadline > this.now) at = Math.min(at, r.deadline);
    const { rows } = await client.query<{ at: number | null }>(
      "SELECT min(deadline) AS at FROM larder_reservations WHERE queue_id = $1 AND pkey = $2 AND deadline > $3",
      [p.queueId, p.pkey, this.now],
    );
    if (rows[0]!.at !== null) at = Math.min(at, rows[0]!.at);
    if (at < Infinity) this.leaseEnds.set(partitionId(p.queueId, p.pkey), at);
  }

  /** Takes up to n items from the head of `p` (the table's runs, then this round's puts). */
  private async takeFromHead(client: pg.ClientBase, p: PartitionState, n: number): Promise<Buffer[]> {
    const k = Math.min(n, p.tail - p.head);
    if (k <= 0) return [];
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
    p.dirty = true;
    return out;
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
    this.writeHeld(sql);
    this.writeMoves(sql);
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
    const heldCleared = [...this.partitions.values()].filter((p) => p.heldCleared);
    if (heldCleared.length > 0) {
      sql.cte(
        `DELETE FROM larder_reservations r USING unnest(${sql.param(heldCleared.map((p) => p.queueId))}::text[], ${sql.param(heldCleared.map((p) => p.pkey))}::bytea[]) AS c(q, k)
         WHERE r.queue_id = c.q AND r.pkey = c.k`,
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
      `UPDATE larder_partitions p SET head = u.h, head_run = u.r, tail = u.t, expires_at = u.e, held = u.c, moved_to = u.m
       FROM unnest(${sql.param(dirty.map((p) => p.queueId))}::text[], ${sql.param(dirty.map((p) => p.pkey))}::bytea[], ${sql.param(dirty.map((p) => p.head))}::bigint[], ${sql.param(dirty.map((p) => (p.head === p.tail ? p.tail : p.headRun)))}::bigint[], ${sql.param(dirty.map((p) => p.tail))}::bigint[], ${sql.param(dirty.map((p) => p.expiresAt))}::float8[], ${sql.param(dirty.map((p) => p.held))}::bigint[], ${sql.param(dirty.map((p) => p.movedTo))}::bigint[]) AS u(q, k, h, r, t, e, c, m)
       WHERE p.queue_id = u.q AND p.pkey = u.k`,
    );
  }

  /**
   * The rows of larder_reservations the round changed: deleted (acked, got, moved), updated
   * (reserved anew, released, extended) and inserted (reserved from the head). The values
   * of new rows travel as ONE binary parameter, each row a slice of it.
   */
  private writeHeld(sql: Statement): void {
    const gone: Array<[PartitionState, HeldRow]> = [];
    const changed: Array<[PartitionState, HeldRow]> = [];
    const made: Array<[PartitionState, HeldRow]> = [];
    for (const p of this.partitions.values()) {
      for (const r of p.heldRows.values()) {
        if (r.inDb && r.gone) gone.push([p, r]);
        else if (r.inDb && r.dirty) changed.push([p, r]);
        else if (!r.inDb && !r.gone) made.push([p, r]);
      }
    }
    const keys = (list: Array<[PartitionState, HeldRow]>): string =>
      `${sql.param(list.map(([p]) => p.queueId))}::text[], ${sql.param(list.map(([p]) => p.pkey))}::bytea[], ${sql.param(list.map(([, r]) => r.seq))}::bigint[]`;
    const terms = (list: Array<[PartitionState, HeldRow]>): string =>
      [
        `${sql.param(list.map(([, r]) => r.owner))}::bigint[]`,
        `${sql.param(list.map(([, r]) => r.ord))}::bigint[]`,
        `${sql.param(list.map(([, r]) => r.leased))}::boolean[]`,
        `${sql.param(list.map(([, r]) => r.deadline))}::float8[]`,
        `${sql.param(list.map(([, r]) => r.deliveries))}::bigint[]`,
        `${sql.param(list.map(([, r]) => r.maxDeliveries))}::bigint[]`,
        `${sql.param(list.map(([, r]) => r.deadLetter))}::bytea[]`,
      ].join(", ");
    if (gone.length > 0) {
      sql.cte(`DELETE FROM larder_reservations r WHERE ${heldKeys(sql, "r", gone.map(([p, r]) => [p, r.seq]))}`);
    }
    if (changed.length > 0) {
      sql.cte(
        `UPDATE larder_reservations r SET owner = u.o, ord = u.r, leased = u.l, deadline = u.d, deliveries = u.n, max_deliveries = u.m, dead_letter = u.x
         FROM unnest(${keys(changed)}, ${terms(changed)}) AS u(q, k, s, o, r, l, d, n, m, x)
         WHERE r.queue_id = u.q AND r.pkey = u.k AND r.seq = u.s AND (${heldKeys(sql, "r", changed.map(([p, r]) => [p, r.seq]))})`,
      );
    }
    if (made.length > 0) {
      const starts: number[] = [];
      let at = 1;
      for (const [, r] of made) {
        starts.push(at);
        at += r.value.length;
      }
      const blob = Buffer.concat(made.map(([, r]) => r.value));
      sql.cte(
        `INSERT INTO larder_reservations (queue_id, pkey, seq, owner, ord, leased, deadline, deliveries, max_deliveries, dead_letter, value)
         SELECT u.q, u.k, u.s, u.o, u.r, u.l, u.d, u.n, u.m, u.x, substring(${sql.param(blob)}::bytea FROM u.a FOR u.b)
         FROM unnest(${keys(made)}, ${terms(made)}, ${sql.param(starts)}::int[], ${sql.param(made.map(([, r]) => r.value.length))}::int[]) AS u(q, k, s, o, r, l, d, n, m, x, a, b)`,
      );
    }
  }

  /** The round's dead-letter moves: a larder_moved row for each item's old place, and its older places follow it. */
  private writeMoves(sql: Statement): void {
    const m = this.moves;
    if (m.length === 0) return;
    const col = <T>(f: (x: Move) => T): T[] => m.map(f);
    sql.cte(
      `UPDATE larder_moved v SET pkey = u.tk, gen = u.tg, seq = u.ts, deliveries = u.d
       FROM unnest(${sql.param(col((x) => x.queueId))}::text[], ${sql.param(col((x) => x.from.pkey))}::bytea[], ${sql.param(col((x) => x.from.gen))}::bigint[], ${sql.param(col((x) => x.from.seq))}::bigint[],
                   ${sql.param(col((x) => x.to.pkey))}::bytea[], ${sql.param(col((x) => x.to.gen))}::bigint[], ${sql.param(col((x) => x.to.seq))}::bigint[], ${sql.param(col((x) => x.deliveries))}::bigint[])
            AS u(q, fk, fg, fs, tk, tg, ts, d)
       WHERE v.queue_id = u.q AND v.pkey = u.fk AND v.gen = u.fg AND v.seq = u.fs`,
    );
    sql.cte(
      `INSERT INTO larder_moved (queue_id, origin, pkey, gen, seq, deliveries)
       SELECT * FROM unnest(${sql.param(col((x) => x.queueId))}::text[], ${sql.param(col((x) => originOf(x.from.pkey, x.from.gen, x.from.seq)))}::text[],
                            ${sql.param(col((x) => x.to.pkey))}::bytea[], ${sql.param(col((x) => x.to.gen))}::bigint[], ${sql.param(col((x) => x.to.seq))}::bigint[], ${sql.param(col((x) => x.deliveries))}::bigint[])
       ON CONFLICT (queue_id, origin) DO NOTHING`,
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
      if (p.filled || p.sooner || (p.emptied && p.countBefore >= half)) tokens.push(partitionToken(p.queueId, p.pkey));
    }
    return tokens.length === 0 ? undefined : payloadOf(tokens);
  }
}

/**
 * SQL naming rows of larder_reservations by key: per partition, `seq = ANY(...)`, so that
 * the planner probes the primary key. (A join with unnest() of the keys is planned as a
 * hash join over a scan of the whole table, whose cost grows with every held row.)
 */
function heldKeys(sql: Statement, alias: string, rows: ReadonlyArray<readonly [PartitionState, number]>): string {
  const byPartition = new Map<PartitionState, number[]>();
  for (const [p, seq] of rows) {
    const list = byPartition.get(p) ?? [];
    list.push(seq);
    byPartition.set(p, list);
  }
  return [...byPartition]
    .map(([p, seqs]) => `(${alias}.queue_id = ${sql.param(p.queueId)} AND ${alias}.pkey = ${sql.param(p.pkey)}::bytea AND ${alias}.seq = ANY(${sql.param(seqs)}::bigint[]))`)
    .join(" OR ");
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
    case "queueReserve":
      return (result.value as unknown[]).length > 0 ? { value: result.value } : undefined;
    case "queueAck":
    case "queueRelease":
    case "queueExtend":
      return { value: result.value };
    case "queueSettle":
      return undefined;
    case "dictUpdate":
      return { value: undefined };
    case "dictRead":
      return undefined;
  }
}
