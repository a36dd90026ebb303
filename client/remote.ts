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
  QueuePartitionsPage,
  QueuePartitionsRequest,
  QueuePutRequest,
  QueueReserveRequest,
  QueueStats,
  ReservedItem,
} from "../proto/backend.ts";
import type { CallName, ReplyOf, RequestOf } from "../proto/calls.ts";
import { InvalidError, QueueFullError } from "../proto/errors.ts";
import { validateToken } from "../proto/validate.ts";
import { Heartbeats } from "./heartbeats.ts";
import { checkReply } from "./replies.ts";
import { newWaitId } from "./retries.ts";
import { ReceivedItems } from "./received.ts";
import { Transport } from "./transport.ts";
import { WireTransport } from "./wire-transport.ts";
import type { Reply } from "./reply-handler.ts";
import type { RouteName } from "../proto/calls.ts";

/** What the backend needs of a transport: HTTP (client/transport.ts) or framed (client/wire-transport.ts). */
interface CallTransport {
  call(route: RouteName, envelope: Record<string, unknown>, signal?: AbortSignal, retryUntil?: number): Promise<Reply>;
  /** `lastCalls` runs once the answers in flight are read, before the connections go. */
  close(lastCalls?: () => Promise<void>): Promise<void>;
}

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
  /** Items gets received, to acknowledge (docs/protocol.md, "Got items in transit"). */
  private readonly received: ReceivedItems;

  /** `ackable`: gets ask to be served in transit (they carry request ids). */
  private constructor(private readonly transport: CallTransport, heartbeatIntervalMs: number, private readonly ackable: boolean) {
    this.heartbeats = new Heartbeats(heartbeatIntervalMs, (kind, id) => this.heartbeat(kind, id));
    this.received = new ReceivedItems((id, tokens) => this.call("queueAck", { id, tokens }));
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
    const requestIds = options.requestIds ?? true;
    if (typeof requestIds !== "boolean") throw new InvalidError("requestIds must be a boolean");
    const getsInTransit = options.getsInTransit ?? false;
    if (typeof getsInTransit !== "boolean") throw new InvalidError("getsInTransit must be a boolean");
    // `larder://` selects the framed transport (docs/protocol.md); anything else is HTTP's to accept or refuse.
    const transport = url.startsWith("larder:")
      ? new WireTransport(url, { token, retryTimeoutMs, answerTimeoutMs, requestIds })
      : new Transport(url, { token, retryTimeoutMs, answerTimeoutMs, connections, requestsInFlightMax, requestIds });
    return new RemoteBackend(transport, heartbeatIntervalMs, requestIds && getsInTransit);
  }

  /**
   * A call on queue `id`: it carries the acknowledgements pending for that queue, so that it
   * sees the items gone, as an embedded store's caller would; they are kept if it fails.
   */
  private async onQueue<N extends CallName>(name: N, id: string, envelope: RequestOf<N>, signal?: AbortSignal, retryUntil?: number): Promise<ReplyOf<N>> {
    const ack = this.received.take(id);
    try {
      return await this.call(name, ack === undefined ? envelope : { ...envelope, ack }, signal, retryUntil);
    } catch (err) {
      this.received.restore(id, ack);
      throw err;
    }
  }

  /** One call of the table (proto/calls.ts): its envelope as the row gives it, its answer checked by the row. */
  private async call<N extends CallName>(name: N, envelope: RequestOf<N>, signal?: AbortSignal, retryUntil?: number): Promise<ReplyOf<N>> {
    return checkReply(name, await this.transport.call(name, envelope, signal, retryUntil));
  }

  async getObject(kind: ObjectKind, request: GetObjectRequest): Promise<ObjectRecord> {
    const { object } = await this.call("getObject", {
      kind,
      name: request.name,
      environment: request.environment,
      mode: request.mode,
      entryTtlMs: request.entryTtlMs,
    });
    if (request.mode === "ephemeral") this.heartbeats.add(kind, object.id);
    return object;
  }

  async getObjectById(kind: ObjectKind, id: string): Promise<ObjectRecord> {
    return (await this.call("getObjectById", { kind, id })).object;
  }

  async listObjects(kind: ObjectKind, request: ListObjectsRequest): Promise<ObjectRecord[]> {
    const reply = await this.call("listObjects", {
      kind,
      environment: request.environment,
      maxObjects: request.maxObjects,
      createdBefore: request.createdBefore,
    });
    return reply.objects;
  }

  async deleteObject(kind: ObjectKind, request: DeleteObjectRequest): Promise<void> {
    await this.call("deleteObject", {
      kind,
      name: request.name,
      environment: request.environment,
      allowMissing: request.allowMissing,
    });
  }

  async deleteObjectById(kind: ObjectKind, id: string): Promise<void> {
    this.heartbeats.remove(id);
    await this.call("deleteObjectById", { kind, id });
  }

  async heartbeat(kind: ObjectKind, id: string): Promise<void> {
    await this.call("heartbeat", { kind, id });
  }

  async dictGet(id: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return (await this.call("dictGet", { id, key })).value;
  }

  async dictContains(id: string, key: Uint8Array): Promise<boolean> {
    return (await this.call("dictContains", { id, key })).contains;
  }

  async dictPut(id: string, key: Uint8Array, value: Uint8Array, skipIfExists: boolean): Promise<boolean> {
    return (await this.call("dictPut", { id, key, value, skipIfExists })).written;
  }

  async dictUpdate(id: string, entries: Array<[Uint8Array, Uint8Array]>): Promise<void> {
    await this.call("dictUpdate", { id, entries });
  }

  async dictPop(id: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return (await this.call("dictPop", { id, key })).value;
  }

  async dictLen(id: string): Promise<number> {
    return (await this.call("dictLen", { id })).len;
  }

  async dictClear(id: string): Promise<void> {
    await this.call("dictClear", { id });
  }

  async dictScan(id: string, request: DictScanRequest): Promise<DictScanPage> {
    return this.call("dictScan", { id, after: request.after, limit: request.limit, values: request.values });
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
        await this.onQueue("queuePut", id, envelope, request.signal, wait.retryUntil);
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
      const envelope = { id, n, partition: request.partition, timeoutMs, waitId: timeoutMs === 0 ? undefined : waitId, ackable: this.ackable || undefined };
      const { values, tokens } = await this.onQueue("queueGet", id, envelope, request.signal, wait.retryUntil);
      if (tokens !== undefined) this.received.add(id, tokens);
      if (values.length > 0 || !wait.more) return values;
    }
  }

  async queueLen(id: string, request: { partition?: string; total?: boolean }): Promise<number> {
    return (await this.onQueue("queueLen", id, { id, partition: request.partition, total: request.total })).len;
  }

  async queueClear(id: string, request: { partition?: string; all?: boolean }): Promise<void> {
    await this.onQueue("queueClear", id, { id, partition: request.partition, all: request.all });
  }

  /** Long-polls until an item after the cursor arrives or pollTimeoutMs passes. */
  async queueNext(id: string, request: QueueNextRequest): Promise<QueueItem[]> {
    const wait = new Wait(request.pollTimeoutMs);
    for (;;) {
      const envelope = { id, partition: request.partition, after: request.after, limit: request.limit, pollTimeoutMs: wait.next() as number };
      const { items } = await this.onQueue("queueNext", id, envelope, request.signal, wait.retryUntil);
      if (items.length > 0 || !wait.more) return items;
    }
  }

  async queueStats(id: string): Promise<QueueStats> {
    const { partitions, items } = await this.onQueue("queueStats", id, { id });
    return { partitions, items };
  }

  async queuePartitions(id: string, request: QueuePartitionsRequest): Promise<QueuePartitionsPage> {
    return this.onQueue("queuePartitions", id, { id, after: request.after, limit: request.limit });
  }

  /** Long-polls like queueGet until at least one item is reserved or the caller's timeout passes. */
  async queueReserve(id: string, n: number, request: QueueReserveRequest): Promise<ReservedItem[]> {
    const wait = new Wait(request.timeoutMs);
    let waitId: string | undefined;
    for (;;) {
      const timeoutMs = wait.next();
      if (timeoutMs !== 0) waitId ??= newWaitId();
      const envelope = {
        id,
        n,
        partition: request.partition,
        timeoutMs,
        leaseMs: request.leaseMs,
        maxDeliveries: request.maxDeliveries,
        deadLetterPartition: request.deadLetterPartition,
        waitId: timeoutMs === 0 ? undefined : waitId,
      };
      const { reservations } = await this.call("queueReserve", envelope, request.signal, wait.retryUntil);
      if (reservations.length > 0 || !wait.more) return reservations;
    }
  }

  async queueAck(id: string, tokens: string[]): Promise<string[]> {
    return (await this.call("queueAck", { id, tokens })).refused;
  }

  async queueRelease(id: string, token: string, delayMs: number): Promise<void> {
    await this.call("queueRelease", { id, token, delayMs });
  }

  async queueExtend(id: string, token: string, ms: number): Promise<number> {
    return (await this.call("queueExtend", { id, token, ms })).leaseEndsAt;
  }

  /** Stops heartbeats and closes every connection; calls still in flight fail with ClosedError. */
  async close(): Promise<void> {
    this.heartbeats.stop();
    // What gets received is acknowledged before the connections go (else it comes back one
    // lease later), answers that arrive while closing included.
    // (The framed transport takes no last calls: its acks go before it closes.)
    if (!(this.transport instanceof Transport)) await this.received.settle();
    await this.transport.close(() => this.received.settle());
  }
}

