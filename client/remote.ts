// The Backend over HTTP: each method is one route of docs/protocol.md, except the waits,
// which are loops of server-capped long-polls until the caller's own timeout. The typed
// Store (store/store.ts) sits on top, so a remote store behaves like an embedded one.
// Nothing here may import engine/ or server/: `larder/client` must not load LevelDB.

import type { ConnectOptions } from "../proto/api.ts";
import type {
  Backend,
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
  QueueStats,
} from "../proto/backend.ts";
import { InternalError, InvalidError, QueueFullError } from "../proto/errors.ts";
import { validateToken } from "../proto/validate.ts";
import { Heartbeats } from "./heartbeats.ts";
import { Transport, newWaitId, type Reply } from "./transport.ts";

/** The defaults of `connect()`'s options (proto/api.ts ConnectOptions). */
export const CONNECT_DEFAULTS = Object.freeze({
  /** "Within seconds": long enough to ride out a server restart, short enough not to look hung. */
  retryTimeoutMs: 5_000,
  /** A stuck server (connection accepted, no answer) fails a call in this long; a healthy one answers in milliseconds. */
  answerTimeoutMs: 30_000,
  /** Ten heartbeats per default server expiry (5 min), so a few lost ones do not matter. */
  heartbeatIntervalMs: 30_000,
  /**
   * Keep-alive connections for calls that answer at once. A call takes well under a
   * millisecond on loopback or a LAN; 64 let 64 concurrent callers each have a connection
   * (on loopback that was 7-10% more single-item calls/s than 32, and the server groups more
   * writes per commit), while thousands of concurrent calls queue in the client instead of
   * each opening a socket and running out of file descriptors. Calls that may wait use
   * connections of their own.
   */
  connections: 64,
  /**
   * Requests in flight, at most, for calls that do not wait; calls beyond them go together
   * in batches (client/transport.ts). Infinity: one request per call, always.
   */
  requestsInFlightMax: 4,
});

function malformed(what: string): InternalError {
  return new InternalError(`malformed answer from the server: ${what}`);
}

function replyBytes(reply: Reply, field: string): Uint8Array | undefined {
  const value = reply[field];
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof Uint8Array)) throw malformed(`'${field}' is not bin`);
  return value;
}

function replyBytesArray(reply: Reply, field: string): Uint8Array[] {
  const value = reply[field];
  if (!Array.isArray(value) || !value.every((v) => v instanceof Uint8Array)) throw malformed(`'${field}' is not an array of bin`);
  return value as Uint8Array[];
}

function replyNumber(reply: Reply, field: string): number {
  const value = reply[field];
  if (typeof value !== "number") throw malformed(`'${field}' is not a number`);
  return value;
}

function replyBoolean(reply: Reply, field: string): boolean {
  const value = reply[field];
  if (typeof value !== "boolean") throw malformed(`'${field}' is not a boolean`);
  return value;
}

function objectFromWire(value: unknown): ObjectRecord {
  const o = value as Record<string, unknown> | null;
  const ok =
    typeof o === "object" && o !== null &&
    typeof o.id === "string" &&
    (o.kind === "dict" || o.kind === "queue") &&
    (o.name === undefined || o.name === null || typeof o.name === "string") &&
    typeof o.environment === "string" &&
    typeof o.createdAt === "number" &&
    typeof o.ephemeral === "boolean" &&
    (o.entryTtlMs === undefined || o.entryTtlMs === null || typeof o.entryTtlMs === "number");
  if (!ok) throw malformed("not an object record");
  return {
    id: o.id as string,
    kind: o.kind as ObjectKind,
    name: (o.name ?? undefined) as string | undefined,
    environment: o.environment as string,
    createdAt: o.createdAt as number,
    ephemeral: o.ephemeral as boolean,
    entryTtlMs: (o.entryTtlMs ?? undefined) as number | undefined,
  };
}

function positiveOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidError(`${name} must be a positive number of ms, got ${String(value)}`);
  }
  return value;
}

/**
 * A caller's wait as a deadline: undefined waits forever. A value the engine would refuse
 * (negative, NaN, infinite) is sent once, unchanged, for the server to answer INVALID.
 */
class Wait {
  private readonly deadline: number;
  private first = true;

  constructor(private readonly timeoutMs: number | undefined) {
    this.deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  }

  private get valid(): boolean {
    return this.timeoutMs === undefined || (Number.isFinite(this.timeoutMs) && this.timeoutMs >= 0);
  }

  /**
   * The wait to send with the next request. The first request of a call that may wait is a
   * single attempt (0): most puts find room and most busy gets find an item, and a call
   * that cannot wait goes over the client's plain connections without an abort signal,
   * which costs the client a third less CPU than a long-poll. Only when that attempt comes
   * back empty (or full) does the call long-poll.
   */
  next(): number | undefined {
    if (!this.valid) return this.timeoutMs; // sent as given, for the server to refuse
    if (this.first) {
      this.first = false;
      return 0;
    }
    if (this.timeoutMs === undefined) return undefined;
    return Math.max(0, this.deadline - Date.now());
  }

  /**
   * Until when the transport may retry a round that could not reach the server: the
   * caller's deadline for a positive wait. A single attempt (0) or an unlimited wait keeps
   * the transport's own retry budget.
   */
  get retryUntil(): number {
    return this.valid && this.timeoutMs !== undefined && this.timeoutMs > 0 ? this.deadline : Infinity;
  }

  /** Whether another long-poll may be sent after one that ended without a result. */
  get more(): boolean {
    return this.valid && this.timeoutMs !== 0 && Date.now() < this.deadline;
  }
}

export class RemoteBackend implements Backend {
  private readonly heartbeats: Heartbeats;

  private constructor(private readonly transport: Transport, heartbeatIntervalMs: number) {
    this.heartbeats = new Heartbeats(heartbeatIntervalMs, (kind, id) => this.heartbeat(kind, id));
  }

  /** Makes no request: the first call finds out whether the server is there. */
  static async connect(url: string, options: ConnectOptions = {}): Promise<RemoteBackend> {
    if (typeof url !== "string") throw new InvalidError("connect() takes the server URL as a string");
    const token = validateToken(options.token);
    const retryTimeoutMs = positiveOption("retryTimeoutMs", options.retryTimeoutMs, CONNECT_DEFAULTS.retryTimeoutMs);
    const heartbeatIntervalMs = positiveOption("heartbeatIntervalMs", options.heartbeatIntervalMs, CONNECT_DEFAULTS.heartbeatIntervalMs);
    const answerTimeoutMs = positiveOption("answerTimeoutMs", options.answerTimeoutMs, CONNECT_DEFAULTS.answerTimeoutMs);
    const connections = positiveOption("connections", options.connections, CONNECT_DEFAULTS.connections);
    if (!Number.isInteger(connections)) throw new InvalidError("connections must be a positive integer");
    const requestsInFlightMax = options.requestsInFlightMax ?? CONNECT_DEFAULTS.requestsInFlightMax;
    if (typeof requestsInFlightMax !== "number" || !(requestsInFlightMax >= 1) || !(Number.isInteger(requestsInFlightMax) || requestsInFlightMax === Infinity)) {
      throw new InvalidError(`requestsInFlightMax must be a positive integer or Infinity, got ${String(requestsInFlightMax)}`);
    }
    return new RemoteBackend(new Transport(url, { token, retryTimeoutMs, answerTimeoutMs, connections, requestsInFlightMax }), heartbeatIntervalMs);
  }

  async getObject(kind: ObjectKind, request: GetObjectRequest): Promise<ObjectRecord> {
    const reply = await this.transport.call("getObject", {
      kind,
      name: request.name,
      environment: request.environment,
      mode: request.mode,
      entryTtlMs: request.entryTtlMs,
    });
    const record = objectFromWire(reply.object);
    if (request.mode === "ephemeral") this.heartbeats.add(kind, record.id);
    return record;
  }

  async getObjectById(kind: ObjectKind, id: string): Promise<ObjectRecord> {
    return objectFromWire((await this.transport.call("getObjectById", { kind, id })).object);
  }

  async listObjects(kind: ObjectKind, request: ListObjectsRequest): Promise<ObjectRecord[]> {
    const reply = await this.transport.call("listObjects", {
      kind,
      environment: request.environment,
      maxObjects: request.maxObjects,
      createdBefore: request.createdBefore,
    });
    if (!Array.isArray(reply.objects)) throw malformed("'objects' is not an array");
    return reply.objects.map(objectFromWire);
  }

  async deleteObject(kind: ObjectKind, request: DeleteObjectRequest): Promise<void> {
    await this.transport.call("deleteObject", {
      kind,
      name: request.name,
      environment: request.environment,
      allowMissing: request.allowMissing,
    });
  }

  async deleteObjectById(kind: ObjectKind, id: string): Promise<void> {
    this.heartbeats.remove(id);
    await this.transport.call("deleteObjectById", { kind, id });
  }

  async heartbeat(kind: ObjectKind, id: string): Promise<void> {
    await this.transport.call("heartbeat", { kind, id });
  }

  async dictGet(id: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return replyBytes(await this.transport.call("dictGet", { id, key }), "value");
  }

  async dictContains(id: string, key: Uint8Array): Promise<boolean> {
    return replyBoolean(await this.transport.call("dictContains", { id, key }), "contains");
  }

  async dictPut(id: string, key: Uint8Array, value: Uint8Array, skipIfExists: boolean): Promise<boolean> {
    return replyBoolean(await this.transport.call("dictPut", { id, key, value, skipIfExists }), "written");
  }

  async dictUpdate(id: string, entries: Array<[Uint8Array, Uint8Array]>): Promise<void> {
    await this.transport.call("dictUpdate", { id, entries });
  }

  async dictPop(id: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return replyBytes(await this.transport.call("dictPop", { id, key }), "value");
  }

  async dictLen(id: string): Promise<number> {
    return replyNumber(await this.transport.call("dictLen", { id }), "len");
  }

  async dictClear(id: string): Promise<void> {
    await this.transport.call("dictClear", { id });
  }

  async dictScan(id: string, request: DictScanRequest): Promise<DictScanPage> {
    const reply = await this.transport.call("dictScan", { id, after: request.after, limit: request.limit, values: request.values });
    const entries = reply.entries;
    const ok = Array.isArray(entries) && entries.every((e) => Array.isArray(e) && e.length === 2 && e[0] instanceof Uint8Array && e[1] instanceof Uint8Array);
    if (!ok) throw malformed("'entries' is not an array of [bin, bin]");
    return { entries: entries as Array<[Uint8Array, Uint8Array]>, more: replyBoolean(reply, "more") };
  }

  /** A put into a full partition waits in server-capped rounds: QUEUE_FULL with time left means "try again". */
  async queuePut(id: string, values: Uint8Array[], request: QueuePutRequest): Promise<void> {
    const wait = new Wait(request.timeoutMs);
    // One id for every round that waits (made only then: most puts find room at once); the
    // server keeps the wait's place in line with it.
    let waitId: string | undefined;
    for (;;) {
      const timeoutMs = wait.next();
      if (timeoutMs !== 0) waitId ??= newWaitId();
      const envelope = { id, values, partition: request.partition, partitionTtlMs: request.partitionTtlMs, timeoutMs, waitId: timeoutMs === 0 ? undefined : waitId };
      try {
        await this.transport.call("queuePut", envelope, request.signal, wait.retryUntil);
        return;
      } catch (err) {
        if (!(err instanceof QueueFullError) || !wait.more) throw err;
      }
    }
  }

  /** Long-polls until at least one value arrives or the caller's timeout passes. */
  async queueGet(id: string, n: number, request: QueueGetRequest): Promise<Uint8Array[]> {
    const wait = new Wait(request.timeoutMs);
    let waitId: string | undefined;
    for (;;) {
      const timeoutMs = wait.next();
      if (timeoutMs !== 0) waitId ??= newWaitId();
      const envelope = { id, n, partition: request.partition, timeoutMs, waitId: timeoutMs === 0 ? undefined : waitId };
      const values = replyBytesArray(await this.transport.call("queueGet", envelope, request.signal, wait.retryUntil), "values");
      if (values.length > 0 || !wait.more) return values;
    }
  }

  async queueLen(id: string, request: { partition?: string; total?: boolean }): Promise<number> {
    return replyNumber(await this.transport.call("queueLen", { id, partition: request.partition, total: request.total }), "len");
  }

  async queueClear(id: string, request: { partition?: string; all?: boolean }): Promise<void> {
    await this.transport.call("queueClear", { id, partition: request.partition, all: request.all });
  }

  /** Long-polls until an item after the cursor arrives or pollTimeoutMs passes. */
  async queueNext(id: string, request: QueueNextRequest): Promise<QueueItem[]> {
    const wait = new Wait(request.pollTimeoutMs);
    for (;;) {
      const envelope = { id, partition: request.partition, after: request.after, limit: request.limit, pollTimeoutMs: wait.next() };
      const reply = await this.transport.call("queueNext", envelope, request.signal, wait.retryUntil);
      const items = reply.items;
      const ok = Array.isArray(items) && items.every((i) => i !== null && typeof i === "object" && i.value instanceof Uint8Array && typeof i.cursor === "string");
      if (!ok) throw malformed("'items' is not an array of { value, cursor }");
      if (items.length > 0 || !wait.more) return items as QueueItem[];
    }
  }

  async queueStats(id: string): Promise<QueueStats> {
    const reply = await this.transport.call("queueStats", { id });
    return { partitions: replyNumber(reply, "partitions"), items: replyNumber(reply, "items") };
  }

  /** Stops heartbeats and closes every connection; calls still in flight fail with ClosedError. */
  async close(): Promise<void> {
    this.heartbeats.stop();
    await this.transport.close();
  }
}
