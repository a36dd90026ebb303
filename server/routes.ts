// One route per Backend method: each handler type-checks its envelope, makes exactly one
// call on the engine, and shapes the answer; plus `batch`, which runs several of those
// handlers for one request, and `waitsCancel`, which ends waits in progress by the ids
// their clients gave them (server/waits.ts). Value and key bytes pass through untouched.
// `bodyBytesMax` bounds the request body before it is read in full; the engine checks the
// exact limits again when it sees the decoded arguments.

import type { Engine } from "../engine/index.ts";
import { ClosedError, InvalidError, NotFoundError, RequestSizeError, UnavailableError } from "../proto/errors.ts";
import type { Limits } from "../proto/limits.ts";
import { BATCH_BYTES_MAX, BATCH_CALLS_MAX, ROUTES, WAIT_IDS_MAX, WAIT_ID_LENGTH_MAX, mayWait, objectToWire, packBatchReply, type RouteName } from "../proto/wire.ts";
import * as e from "./envelope.ts";
import { EMPTY, constantReply, errorReply, prepackedReply } from "./reply.ts";
import type { Leases } from "./leases.ts";
import type { QueueCounters } from "./counters.ts";
import { checkWaitId } from "./waits.ts";

/** Room in every body for field names, ids, names, environments, partitions and numbers. */
export const ENVELOPE_BYTES_MAX = 4 * 1024;
/**
 * Most MessagePack values (containers and their elements alike) one request body may hold:
 * room for a batch of small calls, and four times the values of the largest putMany and
 * update the limits allow. Bodies are measured against it before they are unpacked.
 */
export function envelopeValuesMax(limits: Limits): number {
  return 64 * BATCH_CALLS_MAX + 4 * (limits.queuePartitionItemsMax + 3 * limits.dictUpdateEntriesMax);
}

/** MessagePack framing of one bin inside an array: a bin32 header, plus a 2-element array header. */
const ITEM_FRAMING_BYTES = 8;

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
  bodyBytesMax(limits: Limits): number;
  handle(ctx: RouteContext, body: e.Envelope): Promise<Reply>;
}

const small = (): number => ENVELOPE_BYTES_MAX;

const withKey = (limits: Limits): number => limits.dictKeyBytesMax + ENVELOPE_BYTES_MAX;

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

const handlers: { [N in RouteName]: Omit<Route, "name" | "path"> } = {
  getObject: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const kind = e.kind(body);
      const mode = e.mode(body);
      const record = await ctx.engine.getObject(kind, {
        name: e.optionalString(body, "name"),
        environment: e.optionalString(body, "environment"),
        mode,
        entryTtlMs: e.optionalNumber(body, "entryTtlMs"),
      });
      if (mode === "ephemeral") ctx.leases.start(kind, record.id);
      return { object: objectToWire(record) };
    },
  },
  getObjectById: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      return { object: objectToWire(await ctx.engine.getObjectById(e.kind(body), e.string(body, "id"))) };
    },
  },
  listObjects: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const records = await ctx.engine.listObjects(e.kind(body), {
        environment: e.optionalString(body, "environment"),
        maxObjects: e.optionalNumber(body, "maxObjects"),
        createdBefore: e.optionalNumber(body, "createdBefore"),
      });
      return { objects: records.map(objectToWire) };
    },
  },
  deleteObject: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      await ctx.engine.deleteObject(e.kind(body), {
        name: e.string(body, "name"),
        environment: e.optionalString(body, "environment"),
        allowMissing: e.flag(body, "allowMissing"),
      });
      return EMPTY;
    },
  },
  deleteObjectById: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const id = e.string(body, "id");
      await ctx.engine.deleteObjectById(e.kind(body), id);
      ctx.leases.forget(id);
      return EMPTY;
    },
  },
  heartbeat: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const id = e.string(body, "id");
      await ctx.engine.heartbeat(e.kind(body), id);
      ctx.leases.extend(id);
      return EMPTY;
    },
  },
  dictGet: {
    bodyBytesMax: withKey,
    async handle(ctx, body) {
      return { value: await ctx.engine.dictGet(e.string(body, "id"), e.bytes(body, "key")) };
    },
  },
  dictContains: {
    bodyBytesMax: withKey,
    async handle(ctx, body) {
      return (await ctx.engine.dictContains(e.string(body, "id"), e.bytes(body, "key"))) ? CONTAINS : NOT_CONTAINS;
    },
  },
  dictPut: {
    bodyBytesMax: (limits) => limits.dictKeyBytesMax + limits.dictValueBytesMax + ENVELOPE_BYTES_MAX,
    async handle(ctx, body) {
      const id = e.string(body, "id");
      const written = await ctx.engine.dictPut(id, e.bytes(body, "key"), e.bytes(body, "value"), e.flag(body, "skipIfExists"));
      return written ? WRITTEN : NOT_WRITTEN;
    },
  },
  dictUpdate: {
    bodyBytesMax: (limits) =>
      limits.dictUpdateEntriesMax * (limits.dictKeyBytesMax + limits.dictValueBytesMax + ITEM_FRAMING_BYTES) + ENVELOPE_BYTES_MAX,
    async handle(ctx, body) {
      await ctx.engine.dictUpdate(e.string(body, "id"), e.pairsArray(body, "entries"));
      return EMPTY;
    },
  },
  dictPop: {
    bodyBytesMax: withKey,
    async handle(ctx, body) {
      return { value: await ctx.engine.dictPop(e.string(body, "id"), e.bytes(body, "key")) };
    },
  },
  dictLen: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      return { len: await ctx.engine.dictLen(e.string(body, "id")) };
    },
  },
  dictClear: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      await ctx.engine.dictClear(e.string(body, "id"));
      return EMPTY;
    },
  },
  dictScan: {
    bodyBytesMax: withKey,
    async handle(ctx, body) {
      const page = await ctx.engine.dictScan(e.string(body, "id"), {
        after: e.optionalBytes(body, "after"),
        limit: e.number(body, "limit"),
        values: e.flag(body, "values"),
      });
      return { entries: page.entries, more: page.more };
    },
  },
  queuePut: {
    bodyBytesMax: (limits) =>
      limits.queuePartitionItemsMax * (limits.queueItemBytesMax + ITEM_FRAMING_BYTES) + ENVELOPE_BYTES_MAX,
    async handle(ctx, body) {
      const id = e.string(body, "id");
      const values = e.bytesArray(body, "values");
      const timeoutMs = ctx.capWait(e.optionalNumber(body, "timeoutMs"));
      try {
        await ctx.engine.queuePut(id, values, {
          partition: e.optionalString(body, "partition"),
          partitionTtlMs: e.optionalNumber(body, "partitionTtlMs"),
          timeoutMs,
          signal: waitSignal(ctx, timeoutMs),
          ticket: timeoutMs === 0 ? undefined : ctx.waitTicket(),
        });
      } catch (err) {
        // A put still waiting for room when the server closes wrote nothing: the client may send it again.
        if (err instanceof ClosedError && ctx.closing()) throw new UnavailableError("the server is shutting down; nothing was written");
        throw err;
      }
      ctx.counters.put(id, values.length);
      return EMPTY;
    },
  },
  queueGet: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const id = e.string(body, "id");
      const n = e.number(body, "n");
      const timeoutMs = ctx.capWait(e.optionalNumber(body, "timeoutMs"));
      const request = {
        partition: e.optionalString(body, "partition"),
        timeoutMs,
        signal: waitSignal(ctx, timeoutMs),
        ticket: timeoutMs === 0 ? undefined : ctx.waitTicket(),
      };
      const values = await releasedEmpty(ctx, ctx.engine.queueGet(id, n, request), []);
      ctx.counters.got(id, values.length);
      return { values };
    },
  },
  queueLen: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const request = { partition: e.optionalString(body, "partition"), total: e.optionalFlag(body, "total") };
      return { len: await ctx.engine.queueLen(e.string(body, "id"), request) };
    },
  },
  queueClear: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const request = { partition: e.optionalString(body, "partition"), all: e.optionalFlag(body, "all") };
      await ctx.engine.queueClear(e.string(body, "id"), request);
      return EMPTY;
    },
  },
  queueNext: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const id = e.string(body, "id");
      const pollTimeoutMs = ctx.capWait(e.number(body, "pollTimeoutMs")) as number;
      const request = {
        partition: e.optionalString(body, "partition"),
        after: e.optionalString(body, "after"),
        limit: e.number(body, "limit"),
        pollTimeoutMs,
        signal: waitSignal(ctx, pollTimeoutMs),
      };
      const items = await releasedEmpty(ctx, ctx.engine.queueNext(id, request), []);
      return { items: items.map((item) => ({ value: item.value, cursor: item.cursor })) };
    },
  },
  queueStats: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const stats = await ctx.engine.queueStats(e.string(body, "id"));
      return { partitions: stats.partitions, items: stats.items };
    },
  },
  queueCounters: {
    bodyBytesMax: small,
    async handle(ctx, body) {
      const id = e.string(body, "id");
      // Answers NOT_FOUND for an id that names no queue, as every route on an object does.
      await ctx.engine.getObjectById("queue", id);
      const { putItems, gotItems, atMs, history } = ctx.counters.read(id);
      return { putItems, gotItems, atMs, history };
    },
  },
  waitsCancel: {
    bodyBytesMax: () => WAIT_IDS_MAX * (WAIT_ID_LENGTH_MAX + 3) + ENVELOPE_BYTES_MAX,
    async handle(ctx, body) {
      const ids = e.stringArray(body, "waitIds");
      if (ids.length > WAIT_IDS_MAX) throw new RequestSizeError(`at most ${WAIT_IDS_MAX} waitIds, got ${ids.length}`);
      for (const id of ids) checkWaitId(id);
      ctx.cancelWaits(ids);
      return EMPTY;
    },
  },
  batch: {
    bodyBytesMax: () => BATCH_BYTES_MAX,
    async handle(ctx, body) {
      const calls = e.callsArray(body, "calls");
      if (calls.length > BATCH_CALLS_MAX) {
        throw new RequestSizeError(`a batch holds at most ${BATCH_CALLS_MAX} calls, got ${calls.length}`);
      }
      // Each call starts in order, as separate requests arriving in that order would, and
      // they run together: the writes among them share the engine's next commit. Reads of
      // values are the exception (readsInTurn).
      const reads = readsInTurn();
      const replies = await Promise.all(
        calls.map(([path, envelope]) => (VALUE_READS.has(path) ? reads(() => runBatched(ctx, path, envelope)) : runBatched(ctx, path, envelope))),
      );
      // Packed here rather than as one map: a big answer goes out one reply at a time.
      return prepackedReply(packBatchReply(replies));
    },
  },
};

type BatchedReply = [status: number, answer: Reply];

/** Calls that read stored values without changing anything: the same one can be asked for again and again. */
const VALUE_READS: ReadonlySet<string> = new Set([ROUTES.dictGet, ROUTES.dictScan, ROUTES.queueNext]);

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
async function runBatched(ctx: RouteContext, path: string, envelope: e.Envelope): Promise<BatchedReply> {
  try {
    const route = ROUTES_BY_PATH.get(path);
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

/** The route table, by path. */
export const ROUTES_BY_PATH: ReadonlyMap<string, Route> = new Map(
  (Object.keys(ROUTES) as RouteName[]).map((name) => [ROUTES[name], { name, path: ROUTES[name], ...handlers[name] }]),
);
