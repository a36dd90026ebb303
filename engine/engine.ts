// The embedded engine: the Backend of proto/backend.ts on LevelDB (or memory-level).
// Public methods check that the store is open and resolve the object; the dict and queue
// state classes validate and do the work. All state changes happen synchronously between
// awaits, so no locks are needed: JavaScript's single thread is the serialization point,
// and the commit pipeline (commit.ts) makes each change durable before its caller hears back.

import { randomBytes } from "node:crypto";
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
  QueuePartitionsPage,
  QueuePartitionsRequest,
  QueuePutRequest,
  QueueReserveRequest,
  QueueStats,
  ReservedItem,
} from "../proto/backend.ts";
import { AlreadyExistsError, ClosedError, InvalidError, NotFoundError } from "../proto/errors.ts";
import type { Limits } from "../proto/limits.ts";
import { validateCount, validateEnvironment, validateName, validateTtl } from "../proto/validate.ts";
import { StorageStoppedError, type Batch, type Db } from "./commit.ts";
import { Core } from "./core.ts";
import { DictState } from "./dicts.ts";
import { TurnBudget } from "./turns.ts";
import { Sweeper } from "./expiry.ts";
import { Collector } from "./gc.ts";
import {
  HOLD_PREFIX,
  MOVED_PREFIX,
  TAG_DICT_STATS,
  TAG_OBJECT,
  TAG_PARTITION,
  decodeDictStats,
  decodeHold,
  decodeMoved,
  decodeObjectRow,
  decodePartitionRow,
  dictStatsKey,
  encodeObjectRow,
  nameKey,
  objectKey,
  prefixEnd,
  readU64,
  type ObjectRow,
} from "./layout.ts";
import { listPartitions } from "./partitions.ts";
import type { PartitionRegistry } from "./partition.ts";
import { QueueState } from "./queues.ts";
import { REFERENCES_MARGIN_MS, REQUEST_ID_RETENTION_MS_DEFAULT, RequestLog, type Receipt } from "./requests.ts";
import type { FolderSync } from "./storage.ts";
import type { EngineObserver, EnvironmentStats } from "./observer.ts";

/** How often the ttl sweeper runs on its own. */
const SWEEP_INTERVAL_MS = 1_000;
const ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ID_RANDOM_CHARS = 22;

interface StoredObject {
  num: number;
  row: ObjectRow;
  dict: DictState | undefined;
  queue: QueueState | undefined;
  /** the batch that created it, until durable */
  created: Batch | undefined;
}

function newId(kind: ObjectKind): string {
  const bytes = randomBytes(ID_RANDOM_CHARS * 2);
  let out = kind === "dict" ? "di-" : "qu-";
  // Rejection sampling keeps every character equally likely.
  for (let i = 0; i < bytes.length && out.length < 3 + ID_RANDOM_CHARS; i++) {
    if (bytes[i]! < 248) out += ID_CHARS[bytes[i]! % 62];
  }
  return out.length === 3 + ID_RANDOM_CHARS ? out : newId(kind);
}

function label(kind: ObjectKind): string {
  return kind === "dict" ? "Dict" : "Queue";
}

function describeRow(row: ObjectRow): string {
  return row.name === null ? `ephemeral ${label(row.kind)} ${row.id}` : `${label(row.kind)} '${row.name}'`;
}

function toRecord(row: ObjectRow): ObjectRecord {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name ?? undefined,
    environment: row.environment,
    createdAt: row.createdAt,
    ephemeral: row.ephemeral,
    entryTtlMs: row.entryTtlMs ?? undefined,
  };
}

function nameIndex(kind: ObjectKind, environment: string, name: string): string {
  return `${kind}\0${environment}\0${name}`;
}

/**
 * A call that throws before it has its promise (an unknown id, a closed store) answers a
 * rejected promise instead: every engine call reports through its promise, never by
 * throwing. (Written out in each method rather than through a closure: a closure per call
 * cost embedded dict gets a third of their rate.)
 */
function rejected(err: unknown): Promise<never> {
  return Promise.reject(err);
}

export interface EngineSettings {
  db: Db;
  clock: Clock;
  limits: Limits;
  sync: boolean;
  environment: string;
  deleteEphemeralAtOpen: boolean;
  /** How long the record of an applied request id is kept (engine/requests.ts). */
  requestIdRetentionMs?: number;
  /** Called once when a batch fails to write (the server reopens the store then). */
  onStorageFailure?: (err: unknown) => void;
  /** The data folder's fsyncs (on disk; undefined in memory). */
  folder: FolderSync | undefined;
  /** Errors of work with no caller to answer (engine/background.ts). */
  logError: (message: string, error: unknown) => void;
  /** Told of every batch written (the server's metrics). */
  observer?: EngineObserver;
}

export class LevelEngine implements Backend {
  readonly limits: Limits;
  readonly environment: string;
  readonly appliesRequestIds = true;
  readonly requestIdRetentionMs: number;
  private readonly core: Core;
  private readonly gc: Collector;
  private readonly sweeper: Sweeper;
  private readonly requests: RequestLog;
  private readonly byId = new Map<string, StoredObject>();
  private readonly byName = new Map<string, StoredObject>();
  private readonly dictsByData = new Map<number, DictState>();
  private readonly partitions: PartitionRegistry = new Map();
  private closing: Promise<void> | null = null;
  private failure: unknown = null;
  /** Lets the event loop turn under loops of calls that need no I/O (engine/turns.ts). */
  private readonly turns = new TurnBudget();

  private constructor(private readonly settings: EngineSettings, nextNum: number) {
    this.limits = settings.limits;
    this.environment = settings.environment;
    this.core = new Core(settings.db, settings.clock, settings.limits, settings.sync, nextNum, (err) => this.fail(err), settings.folder, settings.logError, settings.observer);
    this.gc = new Collector(this.core);
    this.sweeper = new Sweeper(this.core, (dataNum) => this.dictsByData.get(dataNum), this.partitions);
    this.core.sweepDue = () => this.sweeper.sweepDue();
    this.requestIdRetentionMs = settings.requestIdRetentionMs ?? REQUEST_ID_RETENTION_MS_DEFAULT;
    this.requests = new RequestLog(this.core, this.requestIdRetentionMs, settings.logError);
    this.core.referencesMs = this.requestIdRetentionMs + REFERENCES_MARGIN_MS;
  }

  /** Loads the catalog and partition rows (never the data itself) and starts the background work. */
  static async start(settings: EngineSettings, nextNum: number): Promise<LevelEngine> {
    const engine = new LevelEngine(settings, nextNum);
    await engine.load();
    if (settings.deleteEphemeralAtOpen) await engine.deleteAllEphemeral();
    await engine.gc.load();
    engine.sweeper.start(SWEEP_INTERVAL_MS);
    await engine.requests.start();
    return engine;
  }

  private fail(err: unknown): void {
    this.failure = err;
    if (this.settings.onStorageFailure) this.settings.onStorageFailure(err);
    else this.settings.logError("storage write failed; the store refuses further calls until reopened", err);
  }

  // ---- loading ----

  private async load(): Promise<void> {
    const db = this.settings.db;
    const objects = Buffer.from([TAG_OBJECT]);
    for await (const [key, value] of db.iterator({ gte: objects, lt: prefixEnd(objects) })) {
      this.install(readU64(key, 1), decodeObjectRow(value, key), undefined);
    }
    const stats = Buffer.from([TAG_DICT_STATS]);
    for await (const [key, value] of db.iterator({ gte: stats, lt: prefixEnd(stats) })) {
      const dict = this.dictsByData.get(readU64(key, 1));
      if (!dict) continue;
      const { count, bytes } = decodeDictStats(value, key);
      dict.count = count;
      dict.bytes = bytes;
    }
    const queuesByNum = new Map<number, QueueState>();
    for (const obj of this.byId.values()) if (obj.queue) queuesByNum.set(obj.num, obj.queue);
    const parts = Buffer.from([TAG_PARTITION]);
    for await (const [key, value] of db.iterator({ gte: parts, lt: prefixEnd(parts) })) {
      const queue = queuesByNum.get(readU64(key, 1));
      if (!queue) continue;
      const keyBytes = Buffer.from(key.subarray(9));
      queue.restore(keyBytes.length === 0 ? undefined : keyBytes.toString("utf8"), keyBytes, decodePartitionRow(value, key));
    }
    // Reservations (engine/holds.ts): only partitions that hold items have hold records.
    // Records of partitions that are gone (cleared by a gc marker) are skipped: gc deletes them.
    for await (const [key, value] of db.iterator({ gte: HOLD_PREFIX, lt: prefixEnd(HOLD_PREFIX) })) {
      const p = this.partitions.get(readU64(key, 1));
      if (p) p.queue.reservations.restoreGroup(p, readU64(key, 9), decodeHold(value, key));
    }
    for await (const [key, value] of db.iterator({ gte: MOVED_PREFIX, lt: prefixEnd(MOVED_PREFIX) })) {
      const p = this.partitions.get(readU64(key, 1));
      if (p) p.queue.reservations.restoreMoved(p, readU64(key, 9), decodeMoved(value, key));
    }
    for (const queue of queuesByNum.values()) queue.reservations.finishRestore();
  }

  private install(num: number, row: ObjectRow, created: Batch | undefined): StoredObject {
    const obj: StoredObject = { num, row, dict: undefined, queue: undefined, created };
    const what = describeRow(row);
    if (row.kind === "dict") {
      obj.dict = new DictState(this.core, this.gc, row.dataNum!, row.entryTtlMs ?? undefined, what);
      this.dictsByData.set(row.dataNum!, obj.dict);
    } else {
      obj.queue = new QueueState(this.core, this.gc, this.partitions, num, what);
    }
    this.byId.set(row.id, obj);
    if (row.name !== null) this.byName.set(nameIndex(row.kind, row.environment, row.name), obj);
    if (created) created.done.then(() => (obj.created = undefined), () => {});
    return obj;
  }

  private async deleteAllEphemeral(): Promise<void> {
    const ephemeral = [...this.byId.values()].filter((o) => o.row.ephemeral);
    if (ephemeral.length === 0) return;
    const batch = this.core.batch();
    for (const obj of ephemeral) this.remove(obj, batch);
    await batch.done;
  }

  // ---- guards ----

  private ensureOpen(): void {
    if (this.closing) throw new ClosedError("the store is closed");
    if (this.failure) throw new StorageStoppedError("the store stopped after a storage failure; reopen it", { cause: this.failure });
  }

  private resolve(kind: ObjectKind, id: unknown): StoredObject {
    this.ensureOpen();
    if (typeof id !== "string") throw new InvalidError(`${label(kind)} id must be a string`);
    const obj = this.byId.get(id);
    if (!obj || obj.row.kind !== kind) throw new NotFoundError(`${label(kind)} ${id} not found`);
    return obj;
  }

  private dict(id: string): DictState {
    return this.resolve("dict", id).dict!;
  }

  private queue(id: string): QueueState {
    return this.resolve("queue", id).queue!;
  }

  // ---- objects ----

  getObject(kind: ObjectKind, request: GetObjectRequest, call?: CallOptions): Promise<ObjectRecord> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.getObjectNow(kind, request, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  private async getObjectNow(kind: ObjectKind, request: GetObjectRequest, receipt: Receipt | undefined): Promise<ObjectRecord> {
    this.ensureOpen();
    if (kind !== "dict" && kind !== "queue") throw new InvalidError("kind must be dict or queue");
    const environment = validateEnvironment(request.environment ?? this.environment);
    if (kind === "queue" && request.entryTtlMs !== undefined && request.entryTtlMs !== null) {
      throw new InvalidError("entryTtlMs is for dicts; a queue's partitions expire by partitionTtlMs, given to put");
    }
    const entryTtlMs = kind === "dict" ? validateTtl("entryTtlMs", request.entryTtlMs) : undefined;
    if (request.mode === "ephemeral") {
      if (request.name !== undefined && request.name !== null) throw new InvalidError("ephemeral objects have no name");
      return this.create(kind, null, environment, true, entryTtlMs, receipt);
    }
    const name = validateName(kind, request.name);
    const existing = this.byName.get(nameIndex(kind, environment, name));
    switch (request.mode) {
      case "lookup":
      case "createIfMissing":
        if (existing) return this.existing(existing, entryTtlMs, receipt);
        if (request.mode === "lookup") {
          throw new NotFoundError(`${label(kind)} '${name}' not found in environment '${environment}'`);
        }
        return this.create(kind, name, environment, false, entryTtlMs, receipt);
      case "createFailIfExists":
        if (existing) throw new AlreadyExistsError(`${label(kind)} '${name}' already exists in environment '${environment}'`);
        return this.create(kind, name, environment, false, entryTtlMs, receipt);
      default:
        throw new InvalidError(`unknown lookup mode ${String(request.mode)}`);
    }
  }

  private async existing(obj: StoredObject, entryTtlMs: number | undefined, receipt: Receipt | undefined): Promise<ObjectRecord> {
    if (obj.dict && entryTtlMs !== undefined && entryTtlMs !== obj.dict.entryTtlMs) {
      // A new entryTtlMs applies from now on: to entries written or read after this call.
      obj.row = { ...obj.row, entryTtlMs: entryTtlMs === Infinity ? null : entryTtlMs };
      obj.dict.entryTtlMs = entryTtlMs === Infinity ? undefined : entryTtlMs;
      const batch = this.core.batch();
      batch.put(objectKey(obj.num), encodeObjectRow(obj.row));
      // A change like any other: a retry must not set this ttl again over a newer one.
      const record = toRecord(obj.row);
      receipt?.(batch, record);
      await batch.done;
      return record;
    } else if (obj.created) {
      await obj.created.readable;
    }
    return toRecord(obj.row);
  }

  private async create(
    kind: ObjectKind,
    name: string | null,
    environment: string,
    ephemeral: boolean,
    entryTtlMs: number | undefined,
    receipt: Receipt | undefined,
  ): Promise<ObjectRecord> {
    const batch = this.core.batch();
    const num = this.core.allocate();
    const row: ObjectRow = {
      id: newId(kind),
      kind,
      name,
      environment,
      createdAt: this.core.now(),
      ephemeral,
      entryTtlMs: entryTtlMs === undefined || entryTtlMs === Infinity ? null : entryTtlMs,
      dataNum: kind === "dict" ? this.core.allocate() : null,
    };
    batch.put(objectKey(num), encodeObjectRow(row));
    if (name !== null) batch.put(nameKey(kind, environment, name), objectKey(num).subarray(1));
    const obj = this.install(num, row, batch);
    if (obj.dict) this.core.committer.markDirty(obj.dict);
    const record = toRecord(row);
    receipt?.(batch, record);
    await batch.done;
    return record;
  }

  getObjectById(kind: ObjectKind, id: string): Promise<ObjectRecord> {
    try {
      return this.turns.answer(this.getObjectByIdNow(kind, id));
    } catch (err) {
      return rejected(err);
    }
  }

  private async getObjectByIdNow(kind: ObjectKind, id: string): Promise<ObjectRecord> {
    const obj = this.resolve(kind, id);
    if (obj.created) await obj.created.readable;
    return toRecord(obj.row);
  }

  listObjects(kind: ObjectKind, request: ListObjectsRequest): Promise<ObjectRecord[]> {
    try {
      return this.turns.answer(this.listObjectsNow(kind, request));
    } catch (err) {
      return rejected(err);
    }
  }

  private async listObjectsNow(kind: ObjectKind, request: ListObjectsRequest): Promise<ObjectRecord[]> {
    this.ensureOpen();
    if (kind !== "dict" && kind !== "queue") throw new InvalidError("kind must be dict or queue");
    if (request === null || typeof request !== "object") throw new InvalidError("listObjects takes a request object");
    const environment = validateEnvironment(request.environment ?? this.environment);
    const max = request.maxObjects === undefined || request.maxObjects === null ? Infinity : validateCount("maxObjects", request.maxObjects, 0);
    const before = request.createdBefore;
    if (before !== undefined && before !== null && (typeof before !== "number" || Number.isNaN(before))) {
      throw new InvalidError("createdBefore must be ms since the epoch");
    }
    const found: StoredObject[] = [];
    for (const obj of this.byName.values()) {
      const row = obj.row;
      if (row.kind !== kind || row.environment !== environment) continue;
      if (typeof before === "number" && !(row.createdAt < before)) continue;
      found.push(obj);
    }
    found.sort((a, b) => b.row.createdAt - a.row.createdAt || b.num - a.num);
    return found.slice(0, max).map((o) => toRecord(o.row));
  }

  deleteObject(kind: ObjectKind, request: DeleteObjectRequest, call?: CallOptions): Promise<void> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.deleteObjectNow(kind, request, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  private async deleteObjectNow(kind: ObjectKind, request: DeleteObjectRequest, receipt: Receipt | undefined): Promise<void> {
    this.ensureOpen();
    const environment = validateEnvironment(request.environment ?? this.environment);
    const name = validateName(kind, request.name);
    const obj = this.byName.get(nameIndex(kind, environment, name));
    if (!obj) {
      if (request.allowMissing === true) return;
      throw new NotFoundError(`${label(kind)} '${name}' not found in environment '${environment}'`);
    }
    const batch = this.core.batch();
    this.remove(obj, batch);
    receipt?.(batch, undefined);
    await batch.done;
  }

  deleteObjectById(kind: ObjectKind, id: string, call?: CallOptions): Promise<void> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.deleteObjectByIdNow(kind, id, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  private async deleteObjectByIdNow(kind: ObjectKind, id: string, receipt: Receipt | undefined): Promise<void> {
    const obj = this.resolve(kind, id);
    const batch = this.core.batch();
    this.remove(obj, batch);
    receipt?.(batch, undefined);
    await batch.done;
  }

  /** Removes an object and, through gc markers in the same batch, all of its contents. */
  private remove(obj: StoredObject, batch: Batch): void {
    const row = obj.row;
    const gone = new NotFoundError(`${describeRow(row)} was deleted`);
    this.byId.delete(row.id);
    if (row.name !== null) {
      this.byName.delete(nameIndex(row.kind, row.environment, row.name));
      batch.del(nameKey(row.kind, row.environment, row.name));
    }
    batch.del(objectKey(obj.num));
    if (obj.dict) {
      obj.dict.dead = true;
      this.dictsByData.delete(obj.dict.dataNum);
      batch.del(dictStatsKey(obj.dict.dataNum));
      this.gc.discardDictData(batch, obj.dict.dataNum);
    }
    obj.queue?.destroy(batch, gone);
  }

  heartbeat(kind: ObjectKind, id: string): Promise<void> {
    try {
      return this.turns.answer(this.heartbeatNow(kind, id));
    } catch (err) {
      return rejected(err);
    }
  }

  private async heartbeatNow(kind: ObjectKind, id: string): Promise<void> {
    this.resolve(kind, id);
  }

  /** Objects, entries, items and waiters by environment, from memory (the server's metrics read it at scrape time). */
  stats(): EnvironmentStats[] {
    const byEnvironment = new Map<string, { environment: string; dicts: number; queues: number; dictEntries: number; queueItems: number; waitingGetters: number; waitingPutters: number }>();
    for (const obj of this.byId.values()) {
      const environment = obj.row.environment;
      let stats = byEnvironment.get(environment);
      if (stats === undefined) {
        stats = { environment, dicts: 0, queues: 0, dictEntries: 0, queueItems: 0, waitingGetters: 0, waitingPutters: 0 };
        byEnvironment.set(environment, stats);
      }
      if (obj.dict) {
        stats.dicts++;
        stats.dictEntries += obj.dict.count;
      }
      if (obj.queue) {
        stats.queues++;
        stats.queueItems += obj.queue.total;
        for (const p of obj.queue.partitions.values()) {
          stats.waitingGetters += p.getters.length;
          stats.waitingPutters += p.putters.length;
        }
      }
    }
    return [...byEnvironment.values()];
  }

  async listEphemeral(): Promise<ObjectRecord[]> {
    this.ensureOpen();
    return [...this.byId.values()].filter((o) => o.row.ephemeral).map((o) => toRecord(o.row));
  }

  // ---- dicts ----

  dictGet(id: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    try {
      return this.turns.answer(this.dict(id).get(key));
    } catch (err) {
      return rejected(err);
    }
  }

  dictContains(id: string, key: Uint8Array): Promise<boolean> {
    try {
      return this.turns.answer(this.dict(id).contains(key));
    } catch (err) {
      return rejected(err);
    }
  }

  dictPut(id: string, key: Uint8Array, value: Uint8Array, skipIfExists: boolean, call?: CallOptions): Promise<boolean> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.dict(id).put(key, value, skipIfExists === true, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  dictUpdate(id: string, entries: Array<[Uint8Array, Uint8Array]>, call?: CallOptions): Promise<void> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.dict(id).update(entries, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  dictPop(id: string, key: Uint8Array, call?: CallOptions): Promise<Uint8Array | undefined> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.dict(id).pop(key, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  dictLen(id: string): Promise<number> {
    try {
      return this.turns.answer(this.dictLenNow(id));
    } catch (err) {
      return rejected(err);
    }
  }

  private async dictLenNow(id: string): Promise<number> {
    const dict = this.dict(id);
    // Entries past their ttl still count until swept; sweep what is due before counting.
    if (dict.entryTtlMs !== undefined) await this.sweeper.sweepDue();
    return this.dict(id).count;
  }

  dictClear(id: string, call?: CallOptions): Promise<void> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.dictClearNow(id, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  private dictClearNow(id: string, receipt: Receipt | undefined): Promise<void> {
    const obj = this.resolve("dict", id);
    const dict = obj.dict!;
    this.dictsByData.delete(dict.dataNum);
    // clear() switches to a new data number before its first await, so the object row
    // that records the new number goes into the same batch as the switch.
    const done = dict.clear();
    this.dictsByData.set(dict.dataNum, dict);
    obj.row = { ...obj.row, dataNum: dict.dataNum };
    const batch = this.core.batch();
    batch.put(objectKey(obj.num), encodeObjectRow(obj.row));
    receipt?.(batch, undefined);
    return done;
  }

  dictScan(id: string, request: DictScanRequest): Promise<DictScanPage> {
    try {
      return this.turns.answer(this.dict(id).scan(request));
    } catch (err) {
      return rejected(err);
    }
  }

  // ---- queues ----

  queuePut(id: string, values: Uint8Array[], request: QueuePutRequest, call?: CallOptions): Promise<void> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.queue(id).put(values, request, receipt), request.signal));
    } catch (err) {
      return rejected(err);
    }
  }

  queueGet(id: string, n: number, request: QueueGetRequest, call?: CallOptions): Promise<Uint8Array[]> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.queue(id).get(n, request, receipt), request.signal));
    } catch (err) {
      return rejected(err);
    }
  }

  queueLen(id: string, request: { partition?: string; total?: boolean }): Promise<number> {
    try {
      return this.turns.answer(this.queueLenNow(id, request));
    } catch (err) {
      return rejected(err);
    }
  }

  private async queueLenNow(id: string, request: { partition?: string; total?: boolean }): Promise<number> {
    return this.queue(id).len(request);
  }

  queueClear(id: string, request: { partition?: string; all?: boolean }, call?: CallOptions): Promise<void> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.queue(id).clear(request, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  queueNext(id: string, request: QueueNextRequest): Promise<QueueItem[]> {
    try {
      return this.turns.answer(this.queue(id).next(request));
    } catch (err) {
      return rejected(err);
    }
  }

  queueStats(id: string): Promise<QueueStats> {
    try {
      return this.turns.answer(this.queueStatsNow(id));
    } catch (err) {
      return rejected(err);
    }
  }

  private async queueStatsNow(id: string): Promise<QueueStats> {
    return this.queue(id).stats();
  }

  queuePartitions(id: string, request: QueuePartitionsRequest): Promise<QueuePartitionsPage> {
    try {
      return this.turns.answer(listPartitions(this.core, this.queue(id), request));
    } catch (err) {
      return rejected(err);
    }
  }

  queueReserve(id: string, n: number, request: QueueReserveRequest, call?: CallOptions): Promise<ReservedItem[]> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.queue(id).reserve(n, request, receipt), request.signal));
    } catch (err) {
      return rejected(err);
    }
  }

  queueAck(id: string, tokens: string[], call?: CallOptions): Promise<string[]> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.queue(id).reservations.ack(tokens, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  queueRelease(id: string, token: string, delayMs: number, call?: CallOptions): Promise<void> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.queue(id).reservations.release(token, delayMs, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  queueExtend(id: string, token: string, ms: number, call?: CallOptions): Promise<number> {
    try {
      return this.turns.answer(this.requests.run(call, (receipt) => this.queue(id).reservations.extend(token, ms, receipt)));
    } catch (err) {
      return rejected(err);
    }
  }

  // ---- closing ----

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const closed = new ClosedError("the store was closed");
    for (const obj of this.byId.values()) obj.queue?.end(closed);
    this.core.leases.stop();
    await this.sweeper.stop();
    await this.requests.stop();
    await this.gc.stop();
    await this.core.committer.close().catch(() => {});
    await this.settings.db.close();
    this.settings.folder?.close();
  }
}
