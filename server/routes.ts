// One route per row of the table of calls (proto/calls.ts). A Backend call's envelope is
// decoded by its row's request fields; its handler makes exactly one call on the engine and
// shapes the answer. `batch` runs several of those handlers for one request,
// `queueCounters` reads the server's own put and get counts (server/counters.ts), and
// `waitsCancel` ends waits in progress by the ids their clients gave them
// (server/waits.ts). Value and key bytes pass through untouched. The row's `bodyBytesMax`
// bounds the request body before it is read in full; the engine checks the exact limits
// again when it sees the decoded arguments.

import { checkRequestId, type Engine } from "../engine/index.ts";
import type { CallOptions, PartitionInfo, ReservedItem } from "../proto/backend.ts";
import { ClosedError, InternalError, InvalidError, NotFoundError, RequestSizeError, UnavailableError } from "../proto/errors.ts";
import type { Limits } from "../proto/limits.ts";
import { CALLS, CALL_NAMES, CONTROL_CALLS, ROUTES, isRetrySafe, mayWait, type CallName, type CallSpec, type DecodedRequestOf, type RouteName } from "../proto/calls.ts";
import { BATCH_CALLS_MAX, WAIT_IDS_MAX, objectToWire, packBatchReply } from "../proto/wire.ts";
import * as e from "./envelope.ts";
import { EMPTY, constantReply, errorReply, prepackedReply } from "./reply.ts";
import type { Leases } from "./leases.ts";
import type { QueueCounters } from "./counters.ts";
import { checkWaitId } from "./waits.ts";
import { transitLeaseMs, withAcks } from "./transit.ts";

/**
 * Most MessagePack values (containers and their elements alike) one request body may hold:
 * room for a batch of small calls, and four times the values of the largest putMany and
 * update the limits allow. Bodies are measured against it before they are unpacked.
 */
export function envelopeValuesMax(limits: Limits): number {
  return 64 * BATCH_CALLS_MAX + 4 * (limits.queuePartitionItemsMax + 3 * limits.dictUpdateEntriesMax);
}

export interface RouteContext {
  readonly engine: Engine;
  readonly leases: Leases;
  /** Items put and got per queue since the server started (server/counters.ts). */
  readonly counters: QueueCounters;
  /** Aborted when the client goes away or the server closes; made on first use, so only waiting calls should ask. */
  readonly signal: AbortSignal;
  /** True once the server has begun to close. */
  readonly closing: () => boolean;
  /** Caps a requested wait at the server's long-poll maximum; undefined (forever) becomes the cap. */
  readonly capWait: (timeoutMs: number | undefined) => number | undefined;
  /** The server's log for internal errors (answered as an opaque INTERNAL). */
  readonly logError: (message: string, error: unknown) => void;
  /** Ends the waits its clients gave these ids (server/waits.ts). */
  readonly cancelWaits: (ids: readonly string[]) => void;
  /** This request's place among waiters, kept across the rounds of one wait (server/waits.ts); undefined without a waitId. */
  readonly waitTicket: () => number | undefined;
}

export type Reply = Record<string, unknown>;

export interface Route {
  readonly name: RouteName;
  readonly path: string;
  readonly spec: CallSpec;
  bodyBytesMax(limits: Limits): number;
  handle(ctx: RouteContext, body: e.Envelope): Promise<Reply>;
}

/** The answers of dict put and contains, packed once (reply.ts). */
const WRITTEN = constantReply({ written: true });
const NOT_WRITTEN = constantReply({ written: false });
const CONTAINS = constantReply({ contains: true });
const NOT_CONTAINS = constantReply({ contains: false });

/**
 * A long-poll released because the server is closing answers as if nothing arrived, so the
 * client's loop carries on against the next server (or gives up with UnavailableError).
 */
async function releasedEmpty<T>(ctx: RouteContext, wait: Promise<T>, empty: T): Promise<T> {
  try {
    return await wait;
  } catch (err) {
    if (err instanceof ClosedError && ctx.closing()) return empty;
    throw err;
  }
}

/** The abort signal for a call that may wait; a single attempt (0) never needs one. */
function waitSignal(ctx: RouteContext, waitMs: number | undefined): AbortSignal | undefined {
  return waitMs === 0 ? undefined : ctx.signal;
}

/** A Backend call's handler: its request decoded by the table's fields (proto/calls.ts). */
type Handler<N extends CallName> = (ctx: RouteContext, request: DecodedRequestOf<N>, call: CallOptions | undefined) => Promise<Reply>;

/**
 * The request id of a call that changes state, and whether this is a retry (docs/protocol.md,
 * "Request ids"): fields of every envelope, read here for every route; the engine applies
 * an id at most once.
 */
function callOptions(body: e.Envelope): CallOptions | undefined {
  const requestId = body.requestId;
  if (requestId === undefined || requestId === null) return undefined;
  const retry = body.retry;
  if (retry !== undefined && retry !== null && typeof retry !== "boolean") throw new InvalidError("retry must be a boolean");
  return { requestId: checkRequestId(requestId), retry: retry === true };
}

/**
 * A get's answer from what it took: items taken for good, or reservations of a get in
 * transit. Decided by what was taken, not by how this attempt was served: a retry answered
 * from its record gets the first attempt's kind, also when the server was restarted in
 * between with transit switched on or off (another requestIdRetentionMs or leaseMsMax).
 */
function getAnswer(taken: ReadonlyArray<Uint8Array | ReservedItem>): { values: Uint8Array[]; tokens?: string[] } {
  if (taken.length === 0 || taken[0] instanceof Uint8Array) return { values: taken as Uint8Array[] };
  const held = taken as ReservedItem[];
  return { values: held.map((item) => item.value), tokens: held.map((item) => item.token) };
}

const handlers: { [N in CallName]: Handler<N> } = {
  async getObject(ctx, r, call) {
    const record = await ctx.engine.getObject(r.kind, { name: r.name, environment: r.environment, mode: r.mode, entryTtlMs: r.entryTtlMs }, call);
    if (r.mode === "ephemeral") ctx.leases.start(r.kind, record.id);
    return { object: objectToWire(record) };
  },
  async getObjectById(ctx, r) {
    return { object: objectToWire(await ctx.engine.getObjectById(r.kind, r.id)) };
  },
  async listObjects(ctx, r) {
    const records = await ctx.engine.listObjects(r.kind, { environment: r.environment, maxObjects: r.maxObjects, createdBefore: r.createdBefore });
    return { objects: records.map(objectToWire) };
  },
  async deleteObject(ctx, r, call) {
    await ctx.engine.deleteObject(r.kind, { name: r.name, environment: r.environment, allowMissing: r.allowMissing }, call);
    return EMPTY;
  },
  async deleteObjectById(ctx, r, call) {
    await ctx.engine.deleteObjectById(r.kind, r.id, call);
    ctx.leases.forget(r.id);
    return EMPTY;
  },
  async heartbeat(ctx, r) {
    await ctx.engine.heartbeat(r.kind, r.id);
    ctx.leases.extend(r.id);
    return EMPTY;
  },
  async dictGet(ctx, r) {
    return { value: await ctx.engine.dictGet(r.id, r.key) };
  },
  async dictContains(ctx, r) {
    return (await ctx.engine.dictContains(r.id, r.key)) ? CONTAINS : NOT_CONTAINS;
  },
  async dictPut(ctx, r, call) {
    return (await ctx.engine.dictPut(r.id, r.key, r.value, r.skipIfExists, call)) ? WRITTEN : NOT_WRITTEN;
  },
  async dictUpdate(ctx, r, call) {
    await ctx.engine.dictUpdate(r.id, r.entries, call);
    return EMPTY;
  },
  async dictPop(ctx, r, call) {
    return { value: await ctx.engine.dictPop(r.id, r.key, call) };
  },
  async dictLen(ctx, r) {
    return { len: await ctx.engine.dictLen(r.id) };
  },
  async dictClear(ctx, r, call) {
    await ctx.engine.dictClear(r.id, call);
    return EMPTY;
  },
  async dictScan(ctx, r) {
    const page = await ctx.engine.dictScan(r.id, { after: r.after, limit: r.limit, values: r.values });
    return { entries: page.entries, more: page.more };
  },
  async queuePut(ctx, r, call) {
    const timeoutMs = ctx.capWait(r.timeoutMs);
    try {
      await ctx.engine.queuePut(r.id, r.values, {
        partition: r.partition,
        partitionTtlMs: r.partitionTtlMs,
        timeoutMs,
        signal: waitSignal(ctx, timeoutMs),
        ticket: timeoutMs === 0 ? undefined : ctx.waitTicket(),
      }, call);
    } catch (err) {
      // A put still waiting for room when the server closes wrote nothing: the client may send it again.
      if (err instanceof ClosedError && ctx.closing()) throw new UnavailableError("the server is shutting down; nothing was written");
      throw err;
    }
    // A retry answered with its first attempt's outcome put nothing now: counted once.
    if (call?.replayed !== true) ctx.counters.put(r.id, r.values.length);
    return EMPTY;
  },
  async queueGet(ctx, r, call) {
    const timeoutMs = ctx.capWait(r.timeoutMs);
    const request = {
      partition: r.partition,
      timeoutMs,
      signal: waitSignal(ctx, timeoutMs),
      ticket: timeoutMs === 0 ? undefined : ctx.waitTicket(),
    };
    // Served in transit: held for this client until it acknowledges them (server/transit.ts).
    const leaseMs = r.ackable && call !== undefined ? transitLeaseMs(ctx.engine) : undefined;
    const taken: ReadonlyArray<Uint8Array | ReservedItem> =
      leaseMs !== undefined
        ? await releasedEmpty(ctx, ctx.engine.queueReserve(r.id, r.n, { ...request, leaseMs }, call), [])
        : await releasedEmpty(ctx, ctx.engine.queueGet(r.id, r.n, request, call), []);
    if (call?.replayed !== true) ctx.counters.got(r.id, taken.length);
    return getAnswer(taken);
  },
  async queueLen(ctx, r) {
    return { len: await ctx.engine.queueLen(r.id, { partition: r.partition, total: r.total }) };
  },
  async queueClear(ctx, r, call) {
    await ctx.engine.queueClear(r.id, { partition: r.partition, all: r.all }, call);
    return EMPTY;
  },
  async queueNext(ctx, r) {
    const pollTimeoutMs = ctx.capWait(r.pollTimeoutMs) as number;
    const request = { partition: r.partition, after: r.after, limit: r.limit, pollTimeoutMs, signal: waitSignal(ctx, pollTimeoutMs) };
    const items = await releasedEmpty(ctx, ctx.engine.queueNext(r.id, request), []);
    return { items: items.map((item) => ({ value: item.value, cursor: item.cursor })) };
  },
  async queueStats(ctx, r) {
    const stats = await ctx.engine.queueStats(r.id);
    return { partitions: stats.partitions, items: stats.items };
  },
  async queuePartitions(ctx, r) {
    const page = await ctx.engine.queuePartitions(r.id, { after: r.after, limit: r.limit });
    return { partitions: page.partitions.map(partitionToWire), more: page.more };
  },
  async queueReserve(ctx, r, call) {
    const timeoutMs = ctx.capWait(r.timeoutMs);
    const request = {
      partition: r.partition,
      timeoutMs,
      leaseMs: r.leaseMs,
      maxDeliveries: r.maxDeliveries,
      deadLetterPartition: r.deadLetterPartition,
      signal: waitSignal(ctx, timeoutMs),
      ticket: timeoutMs === 0 ? undefined : ctx.waitTicket(),
    };
    const reservations = await releasedEmpty(ctx, ctx.engine.queueReserve(r.id, r.n, request, call), []);
    if (call?.replayed !== true) ctx.counters.got(r.id, reservations.length);
    return { reservations };
  },
  async queueAck(ctx, r, call) {
    return { refused: await ctx.engine.queueAck(r.id, r.tokens, call) };
  },
  async queueRelease(ctx, r, call) {
    await ctx.engine.queueRelease(r.id, r.token, r.delayMs ?? 0, call);
    return EMPTY;
  },
  async queueExtend(ctx, r, call) {
    return { leaseEndsAt: await ctx.engine.queueExtend(r.id, r.token, r.ms, call) };
  },
};

/** A partition as `queue/partitions` sends it: `partition` absent for the default, `expiresAt` absent for never. */
function partitionToWire(p: PartitionInfo): Record<string, unknown> {
  const wire: Record<string, unknown> = { len: p.len, reserved: p.reserved };
  if (p.partition !== undefined) wire.partition = p.partition;
  if (p.expiresAt !== Infinity) wire.expiresAt = p.expiresAt;
  return wire;
}

/** The protocol's own routes read their envelopes themselves. */
const decodeCounters = e.decoder(CONTROL_CALLS.queueCounters.request);

const controlHandlers: { [N in keyof typeof CONTROL_CALLS]: (ctx: RouteContext, body: e.Envelope) => Promise<Reply> } = {
  async queueCounters(ctx, body) {
    const { id } = decodeCounters(body);
    // Answers NOT_FOUND for an id that names no queue, as every route on an object does.
    await ctx.engine.getObjectById("queue", id);
    const { putItems, gotItems, atMs, history } = ctx.counters.read(id);
    return { putItems, gotItems, atMs, history };
  },
  async waitsCancel(ctx, body) {
    const ids = e.stringArray(body, "waitIds");
    if (ids.length > WAIT_IDS_MAX) throw new RequestSizeError(`at most ${WAIT_IDS_MAX} waitIds, got ${ids.length}`);
    for (const id of ids) checkWaitId(id);
    ctx.cancelWaits(ids);
    return EMPTY;
  },
  async batch(ctx, body) {
    const calls = e.callsArray(body, "calls");
    if (calls.length > BATCH_CALLS_MAX) {
      throw new RequestSizeError(`a batch holds at most ${BATCH_CALLS_MAX} calls, got ${calls.length}`);
    }
    // Each call starts in order, as separate requests arriving in that order would, and
    // they run together: the writes among them share the engine's next commit. Reads of
    // values are the exception (readsInTurn).
    const reads = readsInTurn();
    const replies = await Promise.all(
      calls.map(([path, envelope]) => {
        const route = ROUTES_BY_PATH.get(path);
        return route?.spec.largeReply === true ? reads(() => runBatched(ctx, route, path, envelope)) : runBatched(ctx, route, path, envelope);
      }),
    );
    // Packed here rather than as one map: a big answer goes out one reply at a time.
    return prepackedReply(packBatchReply(replies));
  },
};

type BatchedReply = [status: number, answer: Reply];

/**
 * A batch's reads of values stop once the answers read so far come to this many bytes;
 * the rest are answered `resend: "alone"`. Without it one request of 1,024 gets of a
 * 100 MiB value would make the server hold 100 GB.
 */
export const BATCH_READ_BYTES_MAX = 64 * 1024 * 1024;

/** The answer to a read left out of a batch: the client sends it again on its own. */
const RESEND_ALONE: BatchedReply = [
  503,
  { code: "UNAVAILABLE", message: `the batch's reads already answer ${BATCH_READ_BYTES_MAX} bytes; send this call on its own`, resend: "alone" },
];

/**
 * Runs a batch's value reads one after another, each once the one before it has answered,
 * and none once their answers pass BATCH_READ_BYTES_MAX, so that what a batch holds is
 * bounded by the budget plus one answer, whatever it asks for. (Started together, every
 * read would load its value at once.) The first read starts after the batch's other calls
 * have started: the calls of a batch were made at the same time, and a read may see
 * the writes beside it or not, as with separate requests.
 */
function readsInTurn(): (read: () => Promise<BatchedReply>) => Promise<BatchedReply> {
  let bytes = 0;
  let last: Promise<unknown> = Promise.resolve();
  return (read) => {
    const next = last.then(async () => {
      if (bytes >= BATCH_READ_BYTES_MAX) return RESEND_ALONE;
      const reply = await read();
      bytes += answerBytes(reply[1]);
      return reply;
    });
    last = next;
    return next;
  };
}

/** The bytes of keys and values in a read's answer (what makes it big). */
function answerBytes(answer: Reply): number {
  let bytes = 0;
  const value = answer.value;
  if (value instanceof Uint8Array) bytes += value.length;
  const entries = answer.entries;
  if (Array.isArray(entries)) for (const [key, v] of entries as Array<[Uint8Array, Uint8Array]>) bytes += key.length + v.length;
  const items = answer.items;
  if (Array.isArray(items)) for (const item of items as Array<{ value: Uint8Array }>) bytes += item.value.length;
  return bytes;
}

/** One call of a batch: its answer, or its error as `{ code, message }` with its HTTP status. */
async function runBatched(ctx: RouteContext, route: Route | undefined, path: string, envelope: e.Envelope): Promise<BatchedReply> {
  try {
    if (route === undefined) throw new NotFoundError(`no route ${JSON.stringify(path)}; see docs/protocol.md`);
    if (route.name === "batch") throw new InvalidError("a batch cannot contain a batch");
    if (mayWait(route.name, envelope)) {
      throw new InvalidError(`${path} in a batch must not wait: send timeoutMs 0 (pollTimeoutMs 0), or send the call on its own`);
    }
    return [200, await route.handle(ctx, envelope)];
  } catch (err) {
    const { status, code, message } = errorReply(err, ctx.logError);
    return [status, { code, message }];
  }
}

function backendRoute<N extends CallName>(name: N): Route {
  const spec = CALLS[name];
  const decode = e.decoder(spec.request) as (body: e.Envelope) => DecodedRequestOf<N>;
  const handler = handlers[name] as Handler<N>;
  const handle = (ctx: RouteContext, body: e.Envelope): Promise<Reply> => {
    const request = decode(body);
    // Items received by earlier gets on this queue, acknowledged first (server/transit.ts).
    const ack = (request as { ack?: string[] }).ack;
    if (ack !== undefined && ack.length > 0) return withAcks(ctx.engine, (request as { id: string }).id, ack, () => run(ctx, body, request));
    return run(ctx, body, request);
  };
  const run = (ctx: RouteContext, body: e.Envelope, request: DecodedRequestOf<N>): Promise<Reply> => {
    const call = callOptions(body);
    if (call === undefined || ctx.engine.appliesRequestIds === true) return handler(ctx, request, call);
    // A backend that does not apply ids cannot tell whether a first attempt took effect.
    if (call.retry === true && !isRetrySafe(name, { ...body, requestId: undefined })) {
      throw new InternalError(
        `${ROUTES[name]} sent again after a broken connection, on a backend that does not apply request ids: it may or may not have taken effect`,
      );
    }
    return handler(ctx, request, undefined);
  };
  return { name, path: ROUTES[name], spec, bodyBytesMax: spec.bodyBytesMax, handle };
}

function controlRoute(name: keyof typeof CONTROL_CALLS): Route {
  const spec = CONTROL_CALLS[name];
  return { name, path: ROUTES[name], spec, bodyBytesMax: spec.bodyBytesMax, handle: controlHandlers[name] };
}

/** The route table, by path: a route per row of the table of calls (proto/calls.ts). */
export const ROUTES_BY_PATH: ReadonlyMap<string, Route> = new Map(
  [...CALL_NAMES.map(backendRoute), ...(Object.keys(CONTROL_CALLS) as Array<keyof typeof CONTROL_CALLS>).map(controlRoute)].map((route) => [route.path, route]),
);
