// The Backend of proto/backend.ts on PostgreSQL. Data calls (dict reads and writes, queue
// puts and gets) are gathered into rounds (round.ts): one transaction per round, one
// round in flight per process. Object calls, len, clear, iterate and stats are one small
// transaction each. Waits (a get on an empty partition, a put into a full one, iterate's
// poll) are held in this process and retried when a round here commits into their
// partition, when another process's NOTIFY names it (wakeups.ts), or by a slow poll.

import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { Clock } from "../proto/api.ts";
import type {
  Backend,
  CallOptions,
  DeleteObjectRequest,
  DictScanPage,
  DictScanRequest,
  GetObjectRequest,
  ListObjectsRequest,
  ObjectKind,
  ObjectRecord,
  QueueGetRequest,
  QueueItem,
  QueueNextRequest,
  QueuePutRequest,
  QueuePartitionsPage,
  QueuePartitionsRequest,
  QueueStats,
  ReservedItem,
} from "../proto/backend.ts";
import { AlreadyExistsError, ClosedError, InternalError, InvalidError, LarderError, NotFoundError, QueueFullError, RequestSizeError } from "../proto/errors.ts";
import { isCanonicalKey } from "../proto/keys.ts";
import type { Limits } from "../proto/limits.ts";
import { checkBytes, validateCount, validateEnvironment, validateName, validatePartition, validatePartitionsPage, validateTimeout, validateTtl } from "../proto/validate.ts";
import { waitTicket } from "../proto/tickets.ts";
import { setLongTimeout, type LongTimer } from "../proto/timer.ts";
import { makePool, single, transaction, type TransactionOptions } from "./db.ts";
import { Full, Round, partitionId, readRound, type OpResult, type RoundOp } from "./round.ts";
import { migrate, STATS_STRIPES } from "./schema.ts";
import { Sweeper } from "./sweeper.ts";
import { claim, requestIdOf, settleCtes } from "./requests.ts";
import { Statement } from "./statement.ts";
import { decodeRun } from "./runs.ts";
import { CHANNEL, Listener, WAKE_ALL, partitionToken } from "./wakeups.ts";
import { DEAD_LETTER_DUE, checkDelay, checkExtend, leaseTerms, parseToken } from "./leases.ts";
import type { QueueReserveRequest } from "../proto/backend.ts";

/** Calls gathered into one round at most (a round's statements stay a fixed handful). */
const ROUND_OPS_MAX = 1024;
/**
 * Items and entries written by one round at most: each is a few parameters of the round's
 * write statement, and a statement takes at most 65,535 (a larger call goes alone).
 */
const ROUND_ROWS_MAX = 10_000;
/** Encoded bytes gathered into one round at most. */
const ROUND_BYTES_MAX = 16 * 1024 * 1024;
/**
 * A read that finds dead-letter moves due makes them (a round) and reads again, at most this
 * often: a round makes at most DUE_ROWS_MAX moves, and a move racing a new lease end waits
 * for the next call.
 */
const SETTLES_MAX = 3;
/** Waits are retried this often even without a wake-up (LISTEN is lost on reconnect). */
export const POLL_INTERVAL_MS = 1_000;
/** A page of iterate stops at this many value bytes, as the embedded engine. */
const PEEK_PAGE_BYTES_MAX = 8 * 1024 * 1024;
const SCAN_PAGE_BYTES_MAX = 8 * 1024 * 1024;
const POOL_CONNECTIONS = 6;
const ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ID_RANDOM_CHARS = 22;
const EMPTY = Buffer.alloc(0);

export interface PostgresEngineSettings {
  url: string;
  clock: Clock;
  limits: Limits;
  environment: string;
  /**
   * "process": this process keeps the ephemeral objects it creates alive until it closes
   * (the embedded store); "heartbeats": only heartbeat() does (a server, for its clients).
   */
  ephemeralKeptBy: "process" | "heartbeats";
  /** An ephemeral object is deleted after this long without a heartbeat (or its process). */
  ephemeralExpiryMs: number;
  /** How often waits look again without a wake-up; default POLL_INTERVAL_MS. */
  pollIntervalMs?: number;
  /** How long the record of an applied request id is kept (store's clock). */
  requestIdRetentionMs: number;
}

interface ObjectRow {
  id: string;
  kind: ObjectKind;
  name: string | null;
  environment: string;
  created_at: number;
  ephemeral: boolean;
  entry_ttl_ms: number | null;
}

const OBJECT_COLUMNS = "id, kind, name, environment, created_at, ephemeral, entry_ttl_ms";

function toRecord(row: ObjectRow): ObjectRecord {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name ?? undefined,
    environment: row.environment,
    createdAt: row.created_at,
    ephemeral: row.ephemeral,
    entryTtlMs: row.entry_ttl_ms ?? undefined,
  };
}

function newId(kind: ObjectKind): string {
  const bytes = randomBytes(ID_RANDOM_CHARS * 2);
  let out = kind === "dict" ? "di-" : "qu-";
  for (let i = 0; i < bytes.length && out.length < 3 + ID_RANDOM_CHARS; i++) {
    if (bytes[i]! < 248) out += ID_CHARS[bytes[i]! % 62];
  }
  return out.length === 3 + ID_RANDOM_CHARS ? out : newId(kind);
}

function label(kind: ObjectKind): string {
  return kind === "dict" ? "Dict" : "Queue";
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function cancelled(): ClosedError {
  return new ClosedError("the wait was cancelled: its handle or store was closed");
}

function notIssued(): InvalidError {
  return new InvalidError("iterate cursor is not one this server issued");
}

/** Called by a call's body when it changed something, with what the call returns. */
type Changed = (outcome: unknown) => void;

/** A call run by once(): its own result, or the outcome recorded by an earlier attempt of its id. */
type OnceResult<T> = { replayed: false; value: T } | { replayed: true; outcome: unknown };

interface Pending {
  op: RoundOp;
  bytes: number;
  /** rows it writes (items, entries) */
  rows: number;
  /** a waiting getter's retry: its place among the getters of its partition */
  ticket: number | undefined;
  resolve(result: OpResult): void;
  reject(err: unknown): void;
}

interface Wait {
  ticket: number;
  /** a retry of it is in the round now */
  inFlight: boolean;
  done: boolean;
  timer: LongTimer | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** the wait's time ran out while its retry was in flight */
  timedOut: boolean;
  /** a wake-up arrived while its retry was in flight: retry again if that one found nothing */
  again: boolean;
  /** the store closed while its retry was in flight */
  endedBy: Error | undefined;
  reject(err: unknown): void;
}

/** A getter or a reserver: both wait in one line per partition, in arrival order. */
interface GetWait extends Wait {
  op: Extract<RoundOp, { kind: "queueGet" | "queueReserve" }>;
  resolve(values: unknown[]): void;
}

interface PutWait extends Wait {
  op: Extract<RoundOp, { kind: "queuePut" }>;
  resolve(): void;
  full(): void;
}

interface PartitionWaits {
  queueId: string;
  getters: GetWait[];
  putters: PutWait[];
  watchers: Set<() => void>;
  /** set while putters wait on a partition that expires */
  expiryTimer: LongTimer | undefined;
  /** set while getters wait on a partition whose held items come back at a lease's or delay's end */
  leaseTimer: LongTimer | undefined;
  leaseTimerAt: number;
}

export class PostgresEngine implements Backend {
  /** A call's request id is claimed in its transaction and its outcome recorded there (requests.ts). */
  readonly appliesRequestIds = true;
  readonly limits: Limits;
  readonly environment: string;
  private readonly pool: pg.Pool;
  private readonly listener: Listener;
  private readonly sweeper: Sweeper;
  private readonly holder = `larder-${process.pid}-${randomBytes(6).toString("hex")}`;
  private pending: Pending[] = [];
  private running = false;
  private scheduled = false;
  private closing: Promise<void> | null = null;
  private readonly waits = new Map<string, PartitionWaits>();
  /** partition id -> getters' first attempts in flight (see queueGet) */
  private readonly attempting = new Map<string, number>();
  private readonly pollTimer: NodeJS.Timeout;
  private readonly keptAlive = new Set<string>();
  private readonly keepAliveTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly settings: PostgresEngineSettings) {
    this.limits = settings.limits;
    this.environment = settings.environment;
    this.pool = makePool(settings.url, POOL_CONNECTIONS);
    this.listener = new Listener(settings.url, (token) => this.woken(token));
    this.sweeper = new Sweeper(
      this.pool, settings.clock, this.holder, settings.ephemeralExpiryMs, settings.requestIdRetentionMs,
      (tokens) => {
        for (const token of tokens) this.woken(token);
      },
      async (queueIds) => {
        await Promise.allSettled(queueIds.map((id) => this.call({ kind: "queueSettle", id })));
      },
    );
    this.pollTimer = setInterval(() => this.woken(WAKE_ALL), settings.pollIntervalMs ?? POLL_INTERVAL_MS);
    this.pollTimer.unref();
    if (settings.ephemeralKeptBy === "process") {
      this.keepAliveTimer = setInterval(() => void this.keepAlive(), Math.max(1_000, Math.min(30_000, settings.ephemeralExpiryMs / 4)));
      this.keepAliveTimer.unref();
    }
  }

  static async open(settings: PostgresEngineSettings): Promise<PostgresEngine> {
    const engine = new PostgresEngine(settings);
    try {
      const client = await engine.pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
      await engine.listener.ready;
      engine.sweeper.start();
      return engine;
    } catch (err) {
      await engine.close().catch(() => {});
      if (err instanceof LarderError) throw err;
      throw new InternalError(`cannot open the PostgreSQL store: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  // ---- guards and plumbing ----

  private ensureOpen(): void {
    if (this.closing) throw new ClosedError("the store is closed");
  }

  private readonly txOptions: TransactionOptions = {
    stopped: () => (this.closing ? new ClosedError("the store is closed") : undefined),
  };

  private tx<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return transaction(this.pool, body, this.txOptions).catch((err: unknown) => {
      throw this.publicError(err);
    });
  }

  /**
   * A call that changes state, in one transaction, applied at most once per request id
   * (requests.ts): the id is claimed first (waiting for another attempt of it, in any
   * process, to end); an id already applied answers with its recorded outcome; otherwise
   * `body` runs and reports what it changed, recorded in the same transaction.
   */
  private once<T>(call: CallOptions | undefined, body: (client: pg.PoolClient, changed: Changed) => Promise<T>): Promise<OnceResult<T>> {
    const requestId = requestIdOf(call);
    return this.tx(async (client): Promise<OnceResult<T>> => {
      if (requestId === undefined) return { replayed: false, value: await body(client, () => {}) };
      const prior = await claim(client, [requestId], this.now());
      if (prior.has(requestId)) return { replayed: true, outcome: prior.get(requestId) };
      let outcome: { value: unknown } | undefined;
      const value = await body(client, (o) => {
        outcome = { value: o };
      });
      const sql = new Statement();
      settleCtes(sql, outcome ? [[requestId, outcome.value]] : [], outcome ? [] : [requestId]);
      await client.query(`WITH ${sql.parts.join(",\n")} SELECT 1`, sql.params);
      return { replayed: false, value };
    });
  }

  private publicError(err: unknown): Error {
    if (err instanceof LarderError) return err;
    return new InternalError(`PostgreSQL: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  private checkId(kind: ObjectKind, id: unknown): string {
    this.ensureOpen();
    if (typeof id !== "string") throw new InvalidError(`${label(kind)} id must be a string`);
    return id;
  }

  private checkKey(key: unknown): Buffer {
    if (!(key instanceof Uint8Array)) throw new InvalidError("dict keys travel as encoded bytes");
    checkBytes("dict key", key.length, this.limits.dictKeyBytesMax);
    if (!isCanonicalKey(key)) throw new InvalidError("dict key bytes are not a canonical key encoding");
    return asBuffer(key);
  }

  private checkValue(value: unknown): Buffer {
    if (!(value instanceof Uint8Array) || value.length === 0) throw new InvalidError("dict values travel as encoded bytes");
    checkBytes("dict value", value.length, this.limits.dictValueBytesMax);
    return asBuffer(value);
  }

  private now(): number {
    return this.settings.clock.now();
  }

  // ---- rounds ----

  /** Queues a data call for the next round; resolves with its own result. */
  private submit(op: RoundOp, bytes = 0, ticket?: number): Promise<OpResult> {
    return new Promise<OpResult>((resolve, reject) => {
      const rows =
        op.kind === "queuePut" ? op.values.length : op.kind === "dictUpdate" ? op.entries.length : op.kind === "queueReserve" ? op.n : op.kind === "queueAck" ? op.tokens.length : 1;
      this.pending.push({ op, bytes, rows, ticket, resolve, reject });
      this.schedule();
    });
  }

  private async call(op: RoundOp, bytes = 0): Promise<unknown> {
    const result = await this.submit(op, bytes);
    if (!result.ok) throw result.error;
    return result.value;
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // Calls made in the same turn of the event loop go into the same round.
    setImmediate(() => {
      this.scheduled = false;
      void this.runRounds();
    });
  }

  private async runRounds(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) {
        this.joinWaitingGetters();
        let bytes = 0;
        let rows = 0;
        let count = 0;
        // Two attempts of one request id never share a round: the later one is answered
        // from the earlier's record in the next (requests.ts).
        const requestIds = new Set<string>();
        for (; count < this.pending.length && count < ROUND_OPS_MAX; count++) {
          const next = this.pending[count]!;
          if (count > 0 && (bytes + next.bytes > ROUND_BYTES_MAX || rows + next.rows > ROUND_ROWS_MAX)) break;
          const requestId = next.op.requestId;
          if (requestId !== undefined) {
            if (requestIds.has(requestId)) break;
            requestIds.add(requestId);
          }
          bytes += next.bytes;
          rows += next.rows;
        }
        await this.runRound(waitersLast(this.pending.splice(0, count)));
      }
    } finally {
      this.running = false;
    }
  }

  /**
   * Getters of this process waiting on a partition that a pending put fills join the same
   * round, right after the put: they are served by its commit, without a round of their own
   * (and the items they take never reach the table).
   */
  private joinWaitingGetters(): void {
    const seen = new Set<string>();
    for (const p of this.pending) {
      if (p.op.kind !== "queuePut") continue;
      const pid = partitionId(p.op.id, p.op.pkey);
      if (seen.has(pid)) continue;
      seen.add(pid);
      const w = this.waits.get(pid);
      if (w?.getters.some((g) => !g.inFlight && !g.done)) this.kick(pid, "items");
    }
  }

  private async runRound(batch: Pending[]): Promise<void> {
    const ops = batch.map((p) => p.op);
    try {
      if (ops.every((op) => op.kind === "dictRead")) {
        const results = await readRound(this.pool, ops as Array<Extract<RoundOp, { kind: "dictRead" }>>, this.now(), this.txOptions);
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
        return;
      }
      const outcome = await transaction(this.pool, (client) => new Round(ops, this.now(), this.limits).run(client), this.txOptions);
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(outcome.results[i]!);
      for (const pid of outcome.filled) this.kick(pid, "items");
      for (const pid of outcome.emptied) this.kick(pid, "room");
      for (const [pid, at] of outcome.leaseEnds) this.kickAtLeaseEnd(pid, at);
    } catch (err) {
      const error = this.publicError(err);
      for (const p of batch) p.reject(error);
    }
  }

  // ---- waits ----

  private waitsOf(pid: string, queueId: string): PartitionWaits {
    let w = this.waits.get(pid);
    if (!w) {
      w = { queueId, getters: [], putters: [], watchers: new Set(), expiryTimer: undefined, leaseTimer: undefined, leaseTimerAt: Infinity };
      this.waits.set(pid, w);
    }
    return w;
  }

  private dropIfIdle(pid: string): void {
    const w = this.waits.get(pid);
    if (w && w.getters.length === 0 && w.putters.length === 0 && w.watchers.size === 0) {
      w.expiryTimer?.clear();
      w.leaseTimer?.clear();
      this.waits.delete(pid);
    }
  }

  /** A NOTIFY token, a poll tick or a reconnect: retry the waits it names. */
  private woken(token: string): void {
    if (this.closing) return;
    if (token === WAKE_ALL) {
      for (const pid of [...this.waits.keys()]) this.kick(pid, "both");
      return;
    }
    const slash = token.indexOf("/");
    if (slash < 0) {
      // A queue id alone: the queue was deleted or cleared.
      for (const [pid, w] of [...this.waits]) if (w.queueId === token) this.kick(pid, "both");
      return;
    }
    const queueId = token.slice(0, slash);
    const pid = partitionId(queueId, Buffer.from(token.slice(slash + 1), "hex"));
    this.kick(pid, "both");
  }

  /** Retries waits on a partition: getters in arrival order, then the first putter. */
  private kick(pid: string, what: "items" | "room" | "both"): void {
    const w = this.waits.get(pid);
    if (!w) return;
    if (what !== "room") {
      for (const wake of [...w.watchers]) wake();
      for (const g of w.getters) {
        if (g.done) continue;
        if (g.inFlight) g.again = true;
        else this.retryGet(pid, w, g);
      }
    }
    if (what !== "items") {
      const first = w.putters.find((p) => !p.done);
      if (first?.inFlight) first.again = true;
      else if (first) this.retryPut(pid, w, first);
    }
  }

  private settle(w: Wait): void {
    w.done = true;
    w.timer?.clear();
    if (w.signal && w.onAbort) w.signal.removeEventListener("abort", w.onAbort);
  }

  private leave<W extends Wait>(pid: string, list: W[], wait: W): void {
    const at = list.indexOf(wait);
    if (at >= 0) list.splice(at, 1);
    this.dropIfIdle(pid);
  }

  private retryGet(pid: string, w: PartitionWaits, g: GetWait): void {
    g.inFlight = true;
    g.again = false;
    this.submit(g.op, 0, g.ticket).then(
      (result) => {
        g.inFlight = false;
        if (g.done) return;
        if (!result.ok) return this.finish(pid, w.getters, g, () => g.reject(result.error));
        const values = result.value as unknown[];
        // Items taken are always delivered, even to a wait that timed out or was closed meanwhile.
        if (values.length > 0 || g.timedOut) return this.finish(pid, w.getters, g, () => g.resolve(values));
        if (g.endedBy) return this.finish(pid, w.getters, g, () => g.reject(g.endedBy));
        if (g.signal?.aborted) return this.finish(pid, w.getters, g, () => g.reject(cancelled()));
        if (g.again) this.retryGet(pid, w, g);
      },
      (err) => {
        g.inFlight = false;
        if (!g.done) this.finish(pid, w.getters, g, () => g.reject(err));
      },
    );
  }

  private retryPut(pid: string, w: PartitionWaits, p: PutWait): void {
    p.inFlight = true;
    p.again = false;
    this.submit(p.op).then(
      (result) => {
        p.inFlight = false;
        if (p.done) return;
        if (!result.ok) return this.finish(pid, w.putters, p, () => p.reject(result.error), true);
        if (!(result.value instanceof Full)) return this.finish(pid, w.putters, p, () => p.resolve(), true);
        this.kickAtExpiry(pid, w, result.value.expiresAt);
        if (p.timedOut) return this.finish(pid, w.putters, p, () => p.full(), true);
        if (p.endedBy) return this.finish(pid, w.putters, p, () => p.reject(p.endedBy));
        if (p.signal?.aborted) return this.finish(pid, w.putters, p, () => p.reject(cancelled()), true);
        if (p.again) this.retryPut(pid, w, p);
      },
      (err) => {
        p.inFlight = false;
        if (!p.done) this.finish(pid, w.putters, p, () => p.reject(err), true);
      },
    );
  }

  /**
   * Putters wait for room in a partition that expires: its expiry makes room at once, so
   * they try again at that moment rather than at the sweeper's or the poll's next pass.
   */
  private kickAtExpiry(pid: string, w: PartitionWaits, expiresAt: number): void {
    if (w.expiryTimer || expiresAt === Infinity) return;
    w.expiryTimer = setLongTimeout(() => {
      w.expiryTimer = undefined;
      if (!this.closing) this.kick(pid, "room");
    }, Math.max(20, expiresAt - this.now() + 1), true);
  }

  /**
   * Getters wait on a partition whose held items come back when a lease or a delay ends
   * (no transaction marks that moment, so no NOTIFY): they try again then, in every
   * process that has one waiting, each from what its own last attempt saw.
   */
  private kickAtLeaseEnd(pid: string, at: number): void {
    const w = this.waits.get(pid);
    if (!w || w.getters.length === 0 || at >= w.leaseTimerAt) return;
    w.leaseTimer?.clear();
    w.leaseTimerAt = at;
    w.leaseTimer = setLongTimeout(() => {
      w.leaseTimer = undefined;
      w.leaseTimerAt = Infinity;
      if (!this.closing) this.kick(pid, "items");
    }, Math.max(5, at - this.now() + 1), true);
  }

  /** Ends a wait; a putter that leaves lets the next one try (it may fit where this did not). */
  private finish<W extends Wait>(pid: string, list: W[], wait: W, answer: () => void, nextPutter = false): void {
    this.settle(wait);
    this.leave(pid, list, wait);
    answer();
    if (nextPutter) this.kick(pid, "room");
  }

  /** Arms a wait's timeout and abort: a wait not in flight ends at once; one in flight ends with its retry. */
  private arm<W extends Wait>(pid: string, list: W[], wait: W, timeoutMs: number | undefined, onTimeout: () => void, after?: () => void): void {
    let at = list.length;
    while (at > 0 && list[at - 1]!.ticket > wait.ticket) at--;
    list.splice(at, 0, wait);
    if (timeoutMs !== undefined) {
      wait.timer = setLongTimeout(() => {
        if (wait.done) return;
        if (wait.inFlight) {
          wait.timedOut = true;
          return;
        }
        this.settle(wait);
        this.leave(pid, list, wait);
        onTimeout();
        after?.();
      }, timeoutMs);
    }
    if (wait.signal) {
      wait.onAbort = () => {
        if (wait.done || wait.inFlight) return;
        this.settle(wait);
        this.leave(pid, list, wait);
        wait.reject(cancelled());
        after?.();
      };
      wait.signal.addEventListener("abort", wait.onAbort, { once: true });
    }
  }

  /** Closing: every wait ends with `reason`; one whose retry is in flight ends with that retry. */
  private endAllWaits(reason: Error): void {
    for (const [pid, w] of [...this.waits]) {
      for (const wait of [...w.getters, ...w.putters] as Wait[]) {
        if (wait.done) continue;
        if (wait.inFlight) {
          wait.endedBy = reason;
          continue;
        }
        this.settle(wait);
        this.leave(pid, w.getters.includes(wait as GetWait) ? w.getters : (w.putters as Wait[]), wait);
        wait.reject(reason);
      }
      for (const wake of [...w.watchers]) wake();
    }
  }

  // ---- objects ----

  async getObject(kind: ObjectKind, request: GetObjectRequest, call?: CallOptions): Promise<ObjectRecord> {
    this.ensureOpen();
    if (kind !== "dict" && kind !== "queue") throw new InvalidError("kind must be dict or queue");
    const environment = validateEnvironment(request.environment ?? this.environment);
    if (kind === "queue" && request.entryTtlMs !== undefined && request.entryTtlMs !== null) {
      throw new InvalidError("entryTtlMs is for dicts; a queue's partitions expire by partitionTtlMs, given to put");
    }
    const entryTtlMs = kind === "dict" ? validateTtl("entryTtlMs", request.entryTtlMs) : undefined;
    const ttlColumn = entryTtlMs === undefined || entryTtlMs === Infinity ? null : entryTtlMs;
    if (request.mode === "ephemeral") {
      if (request.name !== undefined && request.name !== null) throw new InvalidError("ephemeral objects have no name");
      const done = await this.once(call, async (client, changed) => {
        const record = (await this.insertObject(client, kind, null, environment, true, ttlColumn))!;
        changed(record);
        return record;
      });
      if (done.replayed) return done.outcome as ObjectRecord;
      if (this.settings.ephemeralKeptBy === "process") this.keptAlive.add(done.value.id);
      return done.value;
    }
    const name = validateName(kind, request.name);
    const mode = request.mode;
    if (mode !== "lookup" && mode !== "createIfMissing" && mode !== "createFailIfExists") {
      throw new InvalidError(`unknown lookup mode ${String(mode)}`);
    }
    const done = await this.once(call, async (client, changed) => {
      if (mode !== "lookup") {
        const created = await this.insertObject(client, kind, name, environment, false, ttlColumn);
        if (created) {
          changed(created);
          return created;
        }
        if (mode === "createFailIfExists") throw new AlreadyExistsError(`${label(kind)} '${name}' already exists in environment '${environment}'`);
      }
      const { rows } = await client.query<ObjectRow>(
        `SELECT ${OBJECT_COLUMNS} FROM larder_objects WHERE kind = $1 AND environment = $2 AND name = $3`,
        [kind, environment, name],
      );
      const row = rows[0];
      if (!row) throw new NotFoundError(`${label(kind)} '${name}' not found in environment '${environment}'`);
      if (kind === "dict" && entryTtlMs !== undefined && row.entry_ttl_ms !== ttlColumn) {
        // A new entryTtlMs applies from now on: to entries written or read after this call.
        await client.query("UPDATE larder_objects SET entry_ttl_ms = $2 WHERE id = $1", [row.id, ttlColumn]);
        row.entry_ttl_ms = ttlColumn;
      }
      return toRecord(row);
    });
    return done.replayed ? (done.outcome as ObjectRecord) : done.value;
  }

  /** Inserts an object (and a dict's counter stripes); undefined when the name is taken. */
  private async insertObject(client: pg.ClientBase, kind: ObjectKind, name: string | null, environment: string, ephemeral: boolean, ttl: number | null): Promise<ObjectRecord | undefined> {
    const { rows } = await client.query<ObjectRow>(
      `INSERT INTO larder_objects (id, kind, name, environment, created_at, ephemeral, entry_ttl_ms, heartbeat_at, kept_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $6 THEN now() END, $8)
       ON CONFLICT (kind, environment, name) DO NOTHING RETURNING ${OBJECT_COLUMNS}`,
      [newId(kind), kind, name, environment, this.now(), ephemeral, ttl, ephemeral && this.settings.ephemeralKeptBy === "process" ? this.holder : null],
    );
    const row = rows[0];
    if (!row) return undefined;
    if (kind === "dict") {
      await client.query(
        "INSERT INTO larder_dict_stats (dict_id, stripe, count, bytes) SELECT $1, s, 0, 0 FROM generate_series(0, $2 - 1) AS s",
        [row.id, STATS_STRIPES],
      );
    }
    return toRecord(row);
  }

  async getObjectById(kind: ObjectKind, id: string): Promise<ObjectRecord> {
    this.checkId(kind, id);
    const row = await this.tx(async (client) => (await client.query<ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM larder_objects WHERE id = $1`, [id])).rows[0]);
    if (!row || row.kind !== kind) throw new NotFoundError(`${label(kind)} ${id} not found`);
    return toRecord(row);
  }

  async listObjects(kind: ObjectKind, request: ListObjectsRequest): Promise<ObjectRecord[]> {
    this.ensureOpen();
    const environment = validateEnvironment(request.environment ?? this.environment);
    const max = request.maxObjects === undefined || request.maxObjects === null ? null : validateCount("maxObjects", request.maxObjects, 0);
    const before = request.createdBefore;
    if (before !== undefined && before !== null && (typeof before !== "number" || Number.isNaN(before))) {
      throw new InvalidError("createdBefore must be ms since the epoch");
    }
    const rows = await this.tx(async (client) =>
      (await client.query<ObjectRow>(
        `SELECT ${OBJECT_COLUMNS} FROM larder_objects
         WHERE kind = $1 AND environment = $2 AND name IS NOT NULL AND ($3::float8 IS NULL OR created_at < $3)
         ORDER BY created_at DESC, created_order DESC LIMIT $4`,
        [kind, environment, typeof before === "number" ? before : null, max],
      )).rows,
    );
    return rows.map(toRecord);
  }

  async deleteObject(kind: ObjectKind, request: DeleteObjectRequest, call?: CallOptions): Promise<void> {
    this.ensureOpen();
    const environment = validateEnvironment(request.environment ?? this.environment);
    const name = validateName(kind, request.name);
    const done = await this.once(call, (client, changed) => this.remove(client, "kind = $1 AND environment = $2 AND name = $3", [kind, environment, name], changed));
    if (done.replayed) return;
    const deleted = done.value;
    if (deleted.length === 0 && request.allowMissing !== true) {
      throw new NotFoundError(`${label(kind)} '${name}' not found in environment '${environment}'`);
    }
    this.removed(deleted);
  }

  async deleteObjectById(kind: ObjectKind, id: string, call?: CallOptions): Promise<void> {
    this.checkId(kind, id);
    const done = await this.once(call, (client, changed) => this.remove(client, "id = $1 AND kind = $2", [id, kind], changed));
    if (done.replayed) return;
    const deleted = done.value;
    if (deleted.length === 0) throw new NotFoundError(`${label(kind)} ${id} not found`);
    this.removed(deleted);
  }

  /**
   * Deletes objects and everything in them: rows that reference the object go by cascade
   * (waiting for the rounds that hold their locks), queue items by queue id after that, in
   * the same transaction, and one NOTIFY names each deleted queue for its waiters elsewhere.
   */
  private async remove(client: pg.ClientBase, where: string, params: unknown[], changed?: Changed): Promise<string[]> {
    const { rows } = await client.query<{ id: string; kind: ObjectKind }>(`DELETE FROM larder_objects WHERE ${where} RETURNING id, kind`, params);
    if (rows.length > 0) changed?.(undefined);
    const queues = rows.filter((r) => r.kind === "queue").map((r) => r.id);
    if (queues.length > 0) {
      await client.query("DELETE FROM larder_items WHERE queue_id = ANY($1::text[])", [queues]);
      await client.query("DELETE FROM larder_reservations WHERE queue_id = ANY($1::text[])", [queues]);
      await client.query("DELETE FROM larder_moved WHERE queue_id = ANY($1::text[])", [queues]);
      await client.query("SELECT pg_notify($1, $2)", [CHANNEL, queues.join(",")]);
    }
    return rows.map((r) => r.id);
  }

  private removed(ids: string[]): void {
    for (const id of ids) {
      this.keptAlive.delete(id);
      this.woken(id);
    }
  }

  async heartbeat(kind: ObjectKind, id: string): Promise<void> {
    this.checkId(kind, id);
    const { rowCount } = await this.tx((client) =>
      client.query("UPDATE larder_objects SET heartbeat_at = CASE WHEN ephemeral THEN now() END WHERE id = $1 AND kind = $2", [id, kind]),
    );
    if (rowCount === 0) throw new NotFoundError(`${label(kind)} ${id} not found`);
  }

  /** The server tracks no leases itself on PostgreSQL: heartbeat_at in the table is the lease. */
  async listEphemeral(): Promise<ObjectRecord[]> {
    this.ensureOpen();
    return [];
  }

  private async keepAlive(): Promise<void> {
    if (this.keptAlive.size === 0 || this.closing) return;
    await this.tx((client) => client.query("UPDATE larder_objects SET heartbeat_at = now() WHERE id = ANY($1::text[])", [[...this.keptAlive]])).catch(() => {});
  }

  // ---- dicts ----

  async dictGet(id: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    this.checkId("dict", id);
    return (await this.call({ kind: "dictRead", id, key: this.checkKey(key), contains: false })) as Uint8Array | undefined;
  }

  async dictContains(id: string, key: Uint8Array): Promise<boolean> {
    this.checkId("dict", id);
    return (await this.call({ kind: "dictRead", id, key: this.checkKey(key), contains: true })) as boolean;
  }

  async dictPut(id: string, key: Uint8Array, value: Uint8Array, skipIfExists: boolean, call?: CallOptions): Promise<boolean> {
    this.checkId("dict", id);
    const k = this.checkKey(key);
    const v = this.checkValue(value);
    const requestId = requestIdOf(call);
    return (await this.call({ kind: "dictPut", id, key: k, value: v, skipIfExists: skipIfExists === true, requestId }, v.length)) as boolean;
  }

  async dictUpdate(id: string, entries: Array<[Uint8Array, Uint8Array]>, call?: CallOptions): Promise<void> {
    this.checkId("dict", id);
    const requestId = requestIdOf(call);
    if (!Array.isArray(entries)) throw new InvalidError("update takes a list of [key, value] pairs");
    const max = this.limits.dictUpdateEntriesMax;
    if (entries.length > max) throw new RequestSizeError(`update of ${entries.length} entries is over dictUpdateEntriesMax ${max}`);
    let bytes = 0;
    const checked: Array<[Buffer, Buffer]> = entries.map((pair) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw new InvalidError("update takes a list of [key, value] pairs");
      const k = this.checkKey(pair[0]);
      const v = this.checkValue(pair[1]);
      bytes += k.length + v.length;
      return [k, v];
    });
    if (checked.length === 0) {
      await this.getObjectById("dict", id);
      return;
    }
    await this.call({ kind: "dictUpdate", id, entries: checked, requestId }, bytes);
  }

  async dictPop(id: string, key: Uint8Array, call?: CallOptions): Promise<Uint8Array | undefined> {
    this.checkId("dict", id);
    const requestId = requestIdOf(call);
    return (await this.call({ kind: "dictPop", id, key: this.checkKey(key), requestId })) as Uint8Array | undefined;
  }

  /** Locks the dict (it must exist) and this call's counter stripe. */
  private async lockDict(client: pg.ClientBase, id: string, stripes: "one" | "all"): Promise<number> {
    const { rowCount } = await client.query("SELECT 1 FROM larder_objects WHERE id = $1 AND kind = 'dict' FOR KEY SHARE", [id]);
    if (rowCount === 0) throw new NotFoundError(`Dict ${id} not found`);
    const stripe = Math.floor(Math.random() * STATS_STRIPES);
    await client.query(
      `SELECT 1 FROM larder_dict_stats WHERE dict_id = $1 AND ($2::int IS NULL OR stripe = $2) ORDER BY stripe FOR UPDATE`,
      [id, stripes === "one" ? stripe : null],
    );
    return stripe;
  }

  async dictLen(id: string): Promise<number> {
    this.checkId("dict", id);
    const now = this.now();
    return this.tx(async (client) => {
      // Entries past their TTL still count until swept: sweep this dict's due entries first
      // (an index probe: larder_dict_entries_dict_due), then sum its counter stripes.
      const due = await client.query("SELECT 1 FROM larder_dict_entries WHERE dict_id = $1 AND expires_at <= $2 LIMIT 1", [id, now]);
      if ((due.rowCount ?? 0) > 0) {
        const stripe = await this.lockDict(client, id, "one");
        await client.query(
          `WITH gone AS (
             DELETE FROM larder_dict_entries WHERE dict_id = $1 AND expires_at <= $2 AND value IS NOT NULL
             RETURNING octet_length(key) + octet_length(value) AS size)
           UPDATE larder_dict_stats SET count = count - (SELECT count(*) FROM gone), bytes = bytes - (SELECT coalesce(sum(size), 0) FROM gone)
           WHERE dict_id = $1 AND stripe = $3`,
          [id, now, stripe],
        );
      }
      const { rows } = await client.query<{ kind: string | null; n: number | null }>(
        "SELECT (SELECT kind FROM larder_objects WHERE id = $1) AS kind, (SELECT sum(count)::bigint FROM larder_dict_stats WHERE dict_id = $1) AS n",
        [id],
      );
      if (rows[0]!.kind !== "dict") throw new NotFoundError(`Dict ${id} not found`);
      return rows[0]!.n ?? 0;
    });
  }

  async dictClear(id: string, call?: CallOptions): Promise<void> {
    this.checkId("dict", id);
    await this.once(call, async (client, changed) => {
      // Every stripe first: rounds lock their stripe before their entries, so none is midway.
      await this.lockDict(client, id, "all");
      changed(undefined);
      await client.query("DELETE FROM larder_dict_entries WHERE dict_id = $1", [id]);
      await client.query("UPDATE larder_dict_stats SET count = 0, bytes = 0 WHERE dict_id = $1", [id]);
    });
  }

  async dictScan(id: string, request: DictScanRequest): Promise<DictScanPage> {
    this.checkId("dict", id);
    const limit = request.limit;
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidError("scan limit must be a positive integer");
    const after = request.after === undefined ? null : this.checkKey(request.after);
    const now = this.now();
    const fetchMax = Math.min(limit, 10_000);
    const { rows, kind } = await this.tx(async (client) => {
      const obj = await client.query<{ kind: string }>("SELECT kind FROM larder_objects WHERE id = $1", [id]);
      const result = await client.query<{ key: Buffer; value: Buffer | null }>(
        `SELECT key, ${request.values ? "value" : "NULL::bytea AS value"} FROM larder_dict_entries
         WHERE dict_id = $1 AND ($2::bytea IS NULL OR key > $2) AND value IS NOT NULL AND expires_at > $3
         ORDER BY key LIMIT $4`,
        [id, after, now, fetchMax + 1],
      );
      return { rows: result.rows, kind: obj.rows[0]?.kind };
    });
    if (kind !== "dict") throw new NotFoundError(`Dict ${id} not found`);
    const entries: Array<[Uint8Array, Uint8Array]> = [];
    let bytes = 0;
    for (const row of rows) {
      if (entries.length >= fetchMax || bytes >= SCAN_PAGE_BYTES_MAX) return { entries, more: true };
      entries.push([row.key, request.values ? row.value! : EMPTY]);
      bytes += row.value?.length ?? 0;
    }
    return { entries, more: false };
  }

  // ---- queues ----

  private partitionKey(partition: unknown): Buffer {
    return validatePartition(partition, this.limits.queuePartitionKeyBytesMax);
  }

  private describePartition(partition: string | undefined): string {
    return partition === undefined || partition === null ? "the default partition" : `partition ${JSON.stringify(partition)}`;
  }

  async queuePut(id: string, values: Uint8Array[], request: QueuePutRequest, call?: CallOptions): Promise<void> {
    this.checkId("queue", id);
    const requestId = requestIdOf(call);
    const pkey = this.partitionKey(request.partition);
    const ttlMs = validateTtl("partitionTtlMs", request.partitionTtlMs) ?? this.limits.partitionTtlMs;
    const timeoutMs = validateTimeout("timeoutMs", request.timeoutMs);
    if (!Array.isArray(values)) throw new InvalidError("put takes a list of encoded values");
    let bytes = 0;
    const items = values.map((v) => {
      if (!(v instanceof Uint8Array) || v.length === 0) throw new InvalidError("queue items travel as encoded bytes");
      checkBytes("queue item", v.length, this.limits.queueItemBytesMax);
      bytes += v.length;
      return asBuffer(v);
    });
    const max = this.limits.queuePartitionItemsMax;
    if (items.length > max) {
      throw new RequestSizeError(`putMany of ${items.length} items can never fit: a partition holds at most ${max} items (queuePartitionItemsMax)`);
    }
    if (request.signal?.aborted) throw cancelled();
    if (items.length === 0) {
      await this.getObjectById("queue", id);
      return;
    }
    const op: RoundOp = { kind: "queuePut", id, pkey, values: items, ttlMs, requestId };
    const full = (): QueueFullError =>
      new QueueFullError(`${this.describePartition(request.partition)} of Queue ${id} is full: it holds at most ${max} items (queuePartitionItemsMax)`);
    const pid = partitionId(id, pkey);
    // Its place among waiters is its arrival, not the end of its first attempt: waiters
    // that came while that attempt ran must not go ahead of it.
    const ticket = request.ticket ?? waitTicket();
    const waiting = this.waits.get(pid)?.putters.length ?? 0;
    if (waiting === 0 || timeoutMs === 0) {
      const result = await this.call(op, bytes);
      if (!(result instanceof Full)) return;
      if (timeoutMs === 0) throw full();
    }
    this.ensureOpen();
    await new Promise<void>((resolve, reject) => {
      const w = this.waitsOf(pid, id);
      const wait: PutWait = {
        op, resolve, reject, full: () => reject(full()),
        ticket, inFlight: false, done: false, timer: undefined, signal: request.signal, onAbort: undefined, timedOut: false, again: false, endedBy: undefined,
      };
      this.arm(pid, w.putters, wait, timeoutMs, () => wait.full(), () => this.kick(pid, "room"));
      this.kick(pid, "room");
    });
  }

  async queueGet(id: string, n: number, request: QueueGetRequest, call?: CallOptions): Promise<Uint8Array[]> {
    this.checkId("queue", id);
    const requestId = requestIdOf(call);
    validateCount("n", n, 1);
    const pkey = this.partitionKey(request.partition);
    const timeoutMs = validateTimeout("timeoutMs", request.timeoutMs);
    if (request.signal?.aborted) throw cancelled();
    return (await this.take({ kind: "queueGet", id, pkey, n, requestId }, timeoutMs, request)) as Uint8Array[];
  }

  /**
   * A get or a reserve: one attempt, then (unless timeoutMs is 0) a wait in the partition's
   * line of getters and reservers, in arrival order.
   */
  private async take(op: GetWait["op"], timeoutMs: number | undefined, request: QueueGetRequest): Promise<unknown[]> {
    const { id, pkey } = op;
    const pid = partitionId(id, pkey);
    const ticket = request.ticket ?? waitTicket();
    // A getter whose first attempt is in flight counts as waiting: one arriving after it
    // waits behind it rather than trying on its own (and maybe taking an item that a put
    // in another process committed between the two attempts).
    const waiting = (this.waits.get(pid)?.getters.length ?? 0) + (this.attempting.get(pid) ?? 0);
    if (waiting === 0 || timeoutMs === 0) {
      this.attempting.set(pid, (this.attempting.get(pid) ?? 0) + 1);
      let values: unknown[];
      try {
        values = (await this.call(op)) as unknown[];
      } finally {
        const left = this.attempting.get(pid)! - 1;
        if (left === 0) this.attempting.delete(pid);
        else this.attempting.set(pid, left);
      }
      if (values.length > 0 || timeoutMs === 0) return values;
    }
    this.ensureOpen();
    return new Promise<unknown[]>((resolve, reject) => {
      const w = this.waitsOf(pid, id);
      const wait: GetWait = {
        op, resolve, reject,
        ticket, inFlight: false, done: false, timer: undefined, signal: request.signal, onAbort: undefined, timedOut: false, again: false, endedBy: undefined,
      };
      this.arm(pid, w.getters, wait, timeoutMs, () => resolve([]));
      // Items may have arrived between the attempt and now: look once more.
      this.kick(pid, "items");
    });
  }

  async queueLen(id: string, request: { partition?: string; total?: boolean }): Promise<number> {
    this.checkId("queue", id);
    const now = this.now();
    if (request.total === true) {
      if (request.partition !== undefined && request.partition !== null) {
        throw new InvalidError("Partition must be null when requesting total length.");
      }
      return this.queueStatsNow(id, now).then((s) => s.items);
    }
    const pkey = this.partitionKey(request.partition);
    for (let settles = 0; ; settles++) {
      const { rows } = await this.tx((client) =>
        client.query<{ kind: string | null; n: number | null; due: boolean }>(
          `SELECT (SELECT kind FROM larder_objects WHERE id = $1) AS kind,
                  (SELECT tail - head + held FROM larder_partitions WHERE queue_id = $1 AND pkey = $2 AND expires_at > $3) AS n, ${dueColumn("$1", "$3")}`,
          [id, pkey, now],
        ),
      );
      if (rows[0]!.kind !== "queue") throw new NotFoundError(`Queue ${id} not found`);
      if (settles < SETTLES_MAX && (await this.settleDue(id, rows[0]!.due))) continue;
      return rows[0]!.n ?? 0;
    }
  }

  async queueClear(id: string, request: { partition?: string; all?: boolean }, call?: CallOptions): Promise<void> {
    this.checkId("queue", id);
    let pkey: Buffer | null = null;
    if (request.all === true) {
      if (request.partition !== undefined && request.partition !== null) {
        throw new InvalidError("Partition must be null when requesting to clear all.");
      }
    } else {
      pkey = this.partitionKey(request.partition);
    }
    // A lease that ended before the clear moved its item first.
    const due = await this.tx((client) => client.query<{ due: boolean }>(`SELECT ${dueColumn("$1", "$2")}`, [id, this.now()]));
    await this.settleDue(id, due.rows[0]!.due);
    const done = await this.once(call, async (client, changed) => {
      const obj = await client.query("SELECT 1 FROM larder_objects WHERE id = $1 AND kind = 'queue' FOR KEY SHARE", [id]);
      if (obj.rowCount === 0) throw new NotFoundError(`Queue ${id} not found`);
      changed(undefined);
      const { rows } = await client.query<{ pkey: Buffer }>(
        `SELECT pkey FROM larder_partitions WHERE queue_id = $1 AND ($2::bytea IS NULL OR pkey = $2) AND (tail > head OR held > 0)
         ORDER BY pkey FOR UPDATE`,
        [id, pkey],
      );
      if (rows.length === 0) return rows;
      const keys = rows.map((r) => r.pkey);
      await client.query("DELETE FROM larder_items WHERE queue_id = $1 AND pkey = ANY($2::bytea[])", [id, keys]);
      await client.query("DELETE FROM larder_reservations WHERE queue_id = $1 AND pkey = ANY($2::bytea[])", [id, keys]);
      await client.query("UPDATE larder_partitions SET head = tail, head_run = tail, held = 0 WHERE queue_id = $1 AND pkey = ANY($2::bytea[])", [id, keys]);
      await client.query("SELECT pg_notify($1, $2)", [CHANNEL, pkey === null ? id : partitionToken(id, pkey)]);
      return rows;
    });
    if (done.replayed) return;
    for (const row of done.value) this.kick(partitionId(id, row.pkey), "room");
  }

  async queueNext(id: string, request: QueueNextRequest): Promise<QueueItem[]> {
    this.checkId("queue", id);
    const pkey = this.partitionKey(request.partition);
    const limit = validateCount("limit", request.limit, 1);
    const pollMs = validateTimeout("pollTimeoutMs", request.pollTimeoutMs) ?? 0;
    const after = parseCursor(request.after);
    const deadline = Date.now() + pollMs;
    const pid = partitionId(id, pkey);
    for (;;) {
      this.ensureOpen();
      const items = await this.peek(id, pkey, after, limit);
      if (items.length > 0) return items;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || request.signal?.aborted) return [];
      await this.watch(pid, id, remaining, request.signal);
      if (request.signal?.aborted) return [];
    }
  }

  /**
   * Items after the cursor in FIFO order: the held ones first (reserved, delayed or visible
   * again, all below head, in their places), then the runs from head.
   */
  private async peek(id: string, pkey: Buffer, after: { gen: number; seq: number } | undefined, limit: number): Promise<QueueItem[]> {
    for (let settles = 0; ; settles++) {
      const now = this.now();
      const page = await this.tx(async (client) => {
        const { rows } = await client.query<{ kind: string | null; gen: number | null; head: number | null; tail: number | null; held: number | null; expires_at: number | null; due: boolean }>(
          `SELECT o.kind, p.gen, p.head, p.tail, p.held, p.expires_at, ${dueColumn("x.id", "$3")} FROM (SELECT $1::text AS id) AS x
           LEFT JOIN larder_objects o ON o.id = x.id
           LEFT JOIN larder_partitions p ON p.queue_id = x.id AND p.pkey = $2`,
          [id, pkey, now],
        );
        const row = rows[0]!;
        if (row.kind !== "queue") throw new NotFoundError(`Queue ${id} not found`);
        if (row.due && settles < SETTLES_MAX) return undefined;
        if (row.gen === null || row.expires_at! <= now || (row.tail! <= row.head! && row.held === 0)) return [];
        const from = after !== undefined && after.gen === row.gen ? after.seq + 1 : 0;
        const out: QueueItem[] = [];
        let bytes = 0;
        if (row.held! > 0 && from < row.head!) {
          const held = await client.query<{ seq: number; value: Buffer }>(
            "SELECT seq, value FROM larder_reservations WHERE queue_id = $1 AND pkey = $2 AND seq >= $3 ORDER BY seq LIMIT $4",
            [id, pkey, from, limit],
          );
          for (const r of held.rows) {
            if (out.length >= limit || bytes >= PEEK_PAGE_BYTES_MAX) return out;
            out.push({ value: r.value, cursor: `${row.gen}.${r.seq}` });
            bytes += r.value.length;
          }
        }
        const start = Math.max(from, row.head!);
        if (start >= row.tail! || out.length >= limit || bytes >= PEEK_PAGE_BYTES_MAX) return out;
        // The run holding `start`, and the runs after it, until `limit` items.
        const runs = await client.query<{ seq: number; value: Buffer }>(
          `SELECT seq, value FROM larder_items
           WHERE queue_id = $1 AND pkey = $2 AND seq >= (SELECT coalesce(max(seq), $3) FROM larder_items WHERE queue_id = $1 AND pkey = $2 AND seq <= $3)
           ORDER BY seq LIMIT $4`,
          [id, pkey, start, Math.min(limit, 64)],
        );
        for (const run of runs.rows) {
          const values = decodeRun(run.value);
          for (let j = Math.max(0, start - run.seq); j < values.length && out.length < limit && bytes < PEEK_PAGE_BYTES_MAX; j++) {
            out.push({ value: values[j]!, cursor: `${row.gen}.${run.seq + j}` });
            bytes += values[j]!.length;
          }
          if (out.length >= limit || bytes >= PEEK_PAGE_BYTES_MAX) break;
        }
        return out;
      });
      if (page !== undefined) return page;
      await this.settleDue(id, true);
    }
  }

  private watch(pid: string, queueId: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const w = this.waitsOf(pid, queueId);
      const done = (): void => {
        timer.clear();
        signal?.removeEventListener("abort", done);
        w.watchers.delete(done);
        this.dropIfIdle(pid);
        resolve();
      };
      const timer = setLongTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      w.watchers.add(done);
    });
  }

  // ---- reservations (leases.ts) ----

  async queueReserve(id: string, n: number, request: QueueReserveRequest, call?: CallOptions): Promise<ReservedItem[]> {
    this.checkId("queue", id);
    const requestId = requestIdOf(call);
    validateCount("n", n, 1);
    const pkey = this.partitionKey(request.partition);
    const timeoutMs = validateTimeout("timeoutMs", request.timeoutMs);
    const terms = leaseTerms(request, this.limits.leaseMsMax, (p) => this.partitionKey(p));
    if (request.signal?.aborted) throw cancelled();
    return (await this.take({ kind: "queueReserve", id, pkey, n, terms, requestId }, timeoutMs, request)) as ReservedItem[];
  }

  async queueAck(id: string, tokens: string[], call?: CallOptions): Promise<string[]> {
    this.checkId("queue", id);
    const requestId = requestIdOf(call);
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string")) throw new InvalidError("ack takes a list of reservation tokens");
    const raw = [...new Set(tokens)];
    const parsed = raw.map((t) => parseToken(t, this.limits.queuePartitionKeyBytesMax));
    if (raw.length === 0) {
      await this.getObjectById("queue", id);
      return [];
    }
    return (await this.call({ kind: "queueAck", id, tokens: parsed, raw, requestId })) as string[];
  }

  async queueRelease(id: string, token: string, delayMs: number, call?: CallOptions): Promise<void> {
    this.checkId("queue", id);
    const requestId = requestIdOf(call);
    const delay = checkDelay(delayMs, this.limits.leaseMsMax);
    const t = parseToken(token, this.limits.queuePartitionKeyBytesMax);
    // Where a release that uses up the item's deliveries moves it: the round locks that partition too.
    const { rows } = await single<{ dead_letter: Buffer | null }>(
      this.pool,
      "SELECT dead_letter FROM larder_reservations WHERE queue_id = $1 AND pkey = $2 AND seq = $3 AND owner = $4",
      [id, t.pkey, t.seq, t.owner],
      this.txOptions,
    ).catch((err: unknown) => {
      throw this.publicError(err);
    });
    await this.call({ kind: "queueRelease", id, token: t, delayMs: delay, deadLetterHint: rows[0]?.dead_letter ?? null, requestId });
  }

  async queueExtend(id: string, token: string, ms: number, call?: CallOptions): Promise<number> {
    this.checkId("queue", id);
    const requestId = requestIdOf(call);
    const leaseMs = checkExtend(ms, this.limits.leaseMsMax);
    const t = parseToken(token, this.limits.queuePartitionKeyBytesMax);
    return (await this.call({ kind: "queueExtend", id, token: t, ms: leaseMs, requestId })) as number;
  }

  /**
   * Makes the dead-letter moves due in queue `id` (a round of its own) when `due` says some
   * are: a read that counts items must not count an item whose move is due as still there.
   */
  private async settleDue(id: string, due: boolean | null | undefined): Promise<boolean> {
    if (due !== true) return false;
    await this.call({ kind: "queueSettle", id });
    return true;
  }

  async queueStats(id: string): Promise<QueueStats> {
    this.checkId("queue", id);
    return this.queueStatsNow(id, this.now());
  }

  private async queueStatsNow(id: string, now: number): Promise<QueueStats> {
    for (let settles = 0; ; settles++) {
      const { rows } = await this.tx((client) =>
        client.query<{ kind: string | null; partitions: number; items: number; due: boolean }>(
          `SELECT (SELECT kind FROM larder_objects WHERE id = $1) AS kind, count(*)::bigint AS partitions, coalesce(sum(tail - head + held), 0)::bigint AS items,
                  (SELECT ${dueColumn("$1", "$2")}) AS due
           FROM larder_partitions WHERE queue_id = $1 AND (tail > head OR held > 0) AND expires_at > $2`,
          [id, now],
        ),
      );
      if (rows[0]!.kind !== "queue") throw new NotFoundError(`Queue ${id} not found`);
      if (settles < SETTLES_MAX && (await this.settleDue(id, rows[0]!.due))) continue;
      return { partitions: rows[0]!.partitions, items: rows[0]!.items };
    }
  }

  /**
   * A page of partition rows in key order (bytea compares as bytes: UTF-8 order, the
   * default partition's empty key first), by the rows' primary key, never the items.
   */
  async queuePartitions(id: string, request: QueuePartitionsRequest): Promise<QueuePartitionsPage> {
    this.checkId("queue", id);
    const { limit, after } = validatePartitionsPage(request, this.limits.queuePartitionKeyBytesMax);
    const now = this.now();
    type Row = { kind: string | null; pkey: Buffer | null; n: number | null; reserved: number | null; expires_at: number | null; due: boolean };
    let rows: Row[];
    for (let settles = 0; ; settles++) {
      // `reserved` counts the partition's rows of larder_reservations still under a lease or a delay.
      ({ rows } = await this.tx((client) =>
        client.query<Row>(
          `SELECT o.kind, p.pkey, p.tail - p.head + p.held AS n, p.expires_at, ${dueColumn("x.id", "$3")},
                  CASE WHEN p.held > 0 THEN (SELECT count(*) FROM larder_reservations r WHERE r.queue_id = x.id AND r.pkey = p.pkey AND r.deadline > $3) ELSE 0 END AS reserved
           FROM (SELECT $1::text AS id) AS x
           LEFT JOIN larder_objects o ON o.id = x.id
           LEFT JOIN LATERAL (
             SELECT pkey, head, tail, held, expires_at FROM larder_partitions
             WHERE queue_id = x.id AND ($2::bytea IS NULL OR pkey > $2) AND (tail > head OR held > 0) AND expires_at > $3
             ORDER BY pkey LIMIT $4
           ) AS p ON true`,
          [id, after ?? null, now, limit + 1],
        ),
      ));
      if (rows[0]!.kind !== "queue") throw new NotFoundError(`Queue ${id} not found`);
      if (settles >= SETTLES_MAX || !(await this.settleDue(id, rows[0]!.due))) break;
    }
    const found = rows.filter((r) => r.pkey !== null);
    const partitions = found.slice(0, limit).map((r) => ({
      partition: r.pkey!.length === 0 ? undefined : r.pkey!.toString("utf8"),
      len: Number(r.n),
      reserved: Number(r.reserved),
      expiresAt: Number(r.expires_at),
    }));
    return { partitions, more: found.length > limit };
  }

  // ---- closing ----

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.pollTimer);
    clearInterval(this.keepAliveTimer);
    this.endAllWaits(new ClosedError("the store was closed"));
    // Calls already gathered still run: their callers hear how they ended.
    while (this.running || this.pending.length > 0) {
      if (!this.running) await this.runRounds();
      else await new Promise((r) => setTimeout(r, 5));
    }
    await this.sweeper.stop();
    await this.listener.close();
    // This process's ephemeral objects go with it, as a process that ends takes its own.
    if (this.keptAlive.size > 0) {
      const ids = [...this.keptAlive];
      await transaction(this.pool, (client) => this.remove(client, "id = ANY($1::text[])", [ids])).catch(() => {});
    }
    await this.pool.end().catch(() => {});
  }
}

/** SQL: whether queue `id` has dead-letter moves due by `now` (an index probe of larder_reservations_due). */
function dueColumn(id: string, now: string): string {
  return `EXISTS (SELECT 1 FROM larder_reservations d WHERE d.queue_id = ${id} AND ${DEAD_LETTER_DUE} AND d.deadline <= ${now}) AS due`;
}

/** A cursor names an item: its partition row's generation and its sequence number. */
function parseCursor(cursor: unknown): { gen: number; seq: number } | undefined {
  if (cursor === undefined || cursor === null) return undefined;
  const m = typeof cursor === "string" ? /^(\d{1,16})\.(\d{1,16})$/.exec(cursor) : null;
  if (!m) throw notIssued();
  return { gen: Number(m[1]), seq: Number(m[2]) };
}

/**
 * A round's calls with the retries of waiting getters moved to its end, in ticket order:
 * a getter retried later (its previous retry was in flight when items came) still comes
 * before those that arrived after it, and every put of the round is there for them.
 */
function waitersLast(batch: Pending[]): Pending[] {
  if (!batch.some((p) => p.ticket !== undefined)) return batch;
  const retries = batch.filter((p) => p.ticket !== undefined).sort((a, b) => a.ticket! - b.ticket!);
  return [...batch.filter((p) => p.ticket === undefined), ...retries];
}
