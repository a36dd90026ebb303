// The table of calls: one row per Backend call, and one per route of the HTTP protocol
// that is no Backend call (`queueCounters`, `waitsCancel`, `batch`). Everything else reads
// its facts about a call from here: the server's routing, envelope decoding and body
// bounds (server/routes.ts), the remote client's envelopes, reply checks, retries and wait
// connections (client/), the recovering wrapper's forwarding (server/recovering.ts), the
// web console's calls (ui/api.ts) and the test that keeps docs/protocol.md in step
// (test/docs/protocol-doc.test.ts).
//
// Adding a Backend call: a row here (its name is the Backend method's), the method on
// proto/backend.ts and engine/, a handler in server/routes.ts (the type checker asks for
// it), the remote method in client/remote.ts, and its section in docs/protocol.md.
//
// A row says:
// - `path`: the route, after the protocol prefix (`/v1`).
// - `request` and `reply`: the envelope fields and their types, as docs/protocol.md names
//   them; a trailing `?` marks an optional field (absent or `nil`). The server decodes
//   requests by `request` (a `bool?` absent reads as false); the client checks replies
//   by `reply`.
// - `retrySafe`: whether the client may send the call again, without a request id (a call
//   that carries one, `requestId` among its fields, always may) after a connection failure
//   that leaves unknown whether the server ran it (docs/protocol.md, "Retries"): repeating
//   it cannot duplicate or lose data. A function decides from the envelope.
// - `mayWait`: whether the call may wait at the server (a long-poll, or a put waiting for
//   room). The client sends such calls on connections of their own, so that however many
//   of them wait they never hold up the calls that would end their wait; a batch refuses
//   them.
// - `readOnly`: the call changes nothing stored. If the engine under it closes (a storage
//   failure), whatever it failed with, it did nothing (server/recovering.ts).
// - `largeReply`: a read of stored values, whose answer may be many MiB and which can be
//   asked again: a batch runs these one after another under a byte budget and answers
//   the rest "resend alone" (server/routes.ts).
// - `bodyBytesMax`: the request body the server reads at most, before decoding, for the
//   store's limits.

import type { Limits } from "./limits.ts";
import type { LookupMode, ObjectKind, ObjectRecord, PartitionInfo, QueueItem, ReservedItem } from "./backend.ts";
import { BATCH_BYTES_MAX, PROTOCOL_PREFIX, WAIT_IDS_MAX, WAIT_ID_LENGTH_MAX } from "./wire.ts";

/** The wire types of envelope fields, in docs/protocol.md's words. */
export interface FieldTypes {
  str: string;
  int: number;
  float: number;
  bool: boolean;
  bin: Uint8Array;
  "bin[]": Uint8Array[];
  "str[]": string[];
  "[bin, bin][]": Array<[Uint8Array, Uint8Array]>;
  /** A str, "dict" or "queue". */
  kind: ObjectKind;
  /** A str, one of the lookup modes. */
  mode: LookupMode;
  /** An object record (docs/protocol.md, "Objects"); read into an ObjectRecord. */
  Object: ObjectRecord;
  "Object[]": ObjectRecord[];
  /** `[{ value: bin, cursor: str }, …]` */
  "items[]": QueueItem[];
  /** `[{ partition?: str, len: int, reserved: int, expiresAt?: float }, …]`; read into PartitionInfo (expiresAt absent: Infinity) */
  "partitions[]": PartitionInfo[];
  /** `[{ token: str, value: bin, deliveries: int, partition: str?, leaseEndsAt: float }, …]` */
  "reservations[]": ReservedItem[];
  /** `[[startMs: float, putItems: int, gotItems: int], …]` */
  "counts[]": Array<[number, number, number]>;
}

export type FieldType = keyof FieldTypes;
export type FieldSpec = FieldType | `${FieldType}?`;
export type Fields = Readonly<Record<string, FieldSpec>>;

/** An envelope as it arrives: a map of field names to decoded MessagePack. */
export type Envelope = Readonly<Record<string, unknown>>;

export interface CallSpec {
  readonly path: string;
  readonly request: Fields;
  readonly reply: Fields;
  readonly retrySafe: boolean | ((envelope: Envelope) => boolean);
  readonly mayWait: false | ((envelope: Envelope) => boolean);
  readonly readOnly: boolean;
  readonly largeReply: boolean;
  readonly bodyBytesMax: (limits: Limits) => number;
}

/** Room in every body for field names, ids, names, environments, partitions and numbers. */
export const ENVELOPE_BYTES_MAX = 4 * 1024;
/** MessagePack framing of one bin inside an array: a bin32 header, plus a 2-element array header. */
const ITEM_FRAMING_BYTES = 8;

const small = (): number => ENVELOPE_BYTES_MAX;
const withKey = (limits: Limits): number => limits.dictKeyBytesMax + ENVELOPE_BYTES_MAX;

/** The defaults of a row: a call that answers at once, changes something, and is small. */
const WRITE = { retrySafe: false, mayWait: false, readOnly: false, largeReply: false, bodyBytesMax: small } as const;
/** A read that answers at once: retry-safe, read-only, small. */
const READ = { retrySafe: true, mayWait: false, readOnly: true, largeReply: false, bodyBytesMax: small } as const;

/**
 * The fields of every call that changes state (docs/protocol.md, "Request ids"): the
 * client's id of the call, the same on its retries, and `retry` on those retries. The
 * server applies an id at most once and answers a retry with the first outcome, so a call
 * with an id may always be sent again.
 */
const ONCE = { requestId: "str?", retry: "bool?" } as const;

/**
 * Most reservation tokens one call carries in `ack` (docs/protocol.md, "Got items in
 * transit"), and the body room they take: a token is three decimal u64s and two dots.
 */
export const ACK_TOKENS_MAX = 1_024;
const ACK_BYTES_MAX = ACK_TOKENS_MAX * (3 * 16 + 2 + ITEM_FRAMING_BYTES);
/** Every call on a queue takes the tokens of items its client received from earlier gets, to acknowledge them first. */
const ACKS = { ack: "str[]?" } as const;
const acking = (bytes: (limits: Limits) => number) => (limits: Limits): number => bytes(limits) + ACK_BYTES_MAX;

/** One row per Backend call, named as the Backend method. */
export const CALLS = {
  getObject: {
    ...WRITE,
    path: "/objects/get",
    request: { ...ONCE, kind: "kind", name: "str?", environment: "str?", mode: "mode", entryTtlMs: "float?" },
    reply: { object: "Object" },
    // Only as a lookup or a create-if-missing: a second ephemeral would make a second object.
    retrySafe: (envelope) => envelope.mode === "lookup" || envelope.mode === "createIfMissing",
  },
  getObjectById: {
    ...READ,
    path: "/objects/get-by-id",
    request: { kind: "kind", id: "str" },
    reply: { object: "Object" },
  },
  listObjects: {
    ...READ,
    path: "/objects/list",
    request: { kind: "kind", environment: "str?", maxObjects: "int?", createdBefore: "float?" },
    reply: { objects: "Object[]" },
  },
  deleteObject: {
    ...WRITE,
    path: "/objects/delete",
    request: { ...ONCE, kind: "kind", name: "str", environment: "str?", allowMissing: "bool?" },
    reply: {},
  },
  deleteObjectById: {
    ...WRITE,
    path: "/objects/delete-by-id",
    request: { ...ONCE, kind: "kind", id: "str" },
    reply: {},
    // Ids are never reused: a repeat can only find the object already gone (NOT_FOUND).
    retrySafe: true,
  },
  heartbeat: {
    ...WRITE,
    path: "/objects/heartbeat",
    request: { kind: "kind", id: "str" },
    reply: {},
    retrySafe: true,
  },
  dictGet: {
    ...READ,
    path: "/dict/get",
    request: { id: "str", key: "bin" },
    reply: { value: "bin?" },
    largeReply: true,
    bodyBytesMax: withKey,
  },
  dictContains: {
    ...READ,
    path: "/dict/contains",
    request: { id: "str", key: "bin" },
    reply: { contains: "bool" },
    bodyBytesMax: withKey,
  },
  dictPut: {
    ...WRITE,
    path: "/dict/put",
    request: { ...ONCE, id: "str", key: "bin", value: "bin", skipIfExists: "bool?" },
    reply: { written: "bool" },
    bodyBytesMax: (limits) => limits.dictKeyBytesMax + limits.dictValueBytesMax + ENVELOPE_BYTES_MAX,
  },
  dictUpdate: {
    ...WRITE,
    path: "/dict/update",
    request: { ...ONCE, id: "str", entries: "[bin, bin][]" },
    reply: {},
    bodyBytesMax: (limits) =>
      limits.dictUpdateEntriesMax * (limits.dictKeyBytesMax + limits.dictValueBytesMax + ITEM_FRAMING_BYTES) + ENVELOPE_BYTES_MAX,
  },
  dictPop: {
    ...WRITE,
    path: "/dict/pop",
    request: { ...ONCE, id: "str", key: "bin" },
    reply: { value: "bin?" },
    bodyBytesMax: withKey,
  },
  dictLen: {
    ...READ,
    path: "/dict/len",
    request: { id: "str" },
    reply: { len: "int" },
  },
  dictClear: {
    ...WRITE,
    path: "/dict/clear",
    request: { ...ONCE, id: "str" },
    reply: {},
  },
  dictScan: {
    ...READ,
    path: "/dict/scan",
    request: { id: "str", after: "bin?", limit: "int", values: "bool?" },
    reply: { entries: "[bin, bin][]", more: "bool" },
    largeReply: true,
    bodyBytesMax: withKey,
  },
  queuePut: {
    ...WRITE,
    path: "/queue/put",
    request: { ...ACKS, ...ONCE, id: "str", values: "bin[]", partition: "str?", partitionTtlMs: "float?", timeoutMs: "float?", waitId: "str?" },
    reply: {},
    mayWait: (envelope) => envelope.timeoutMs !== 0,
    bodyBytesMax: acking((limits) => limits.queuePartitionItemsMax * (limits.queueItemBytesMax + ITEM_FRAMING_BYTES) + ENVELOPE_BYTES_MAX),
  },
  queueGet: {
    ...WRITE,
    path: "/queue/get",
    request: { ...ACKS, ...ONCE, id: "str", n: "int", partition: "str?", timeoutMs: "float?", waitId: "str?", ackable: "bool?" },
    reply: { values: "bin[]", tokens: "str[]?" },
    mayWait: (envelope) => envelope.timeoutMs !== 0,
    bodyBytesMax: acking(small),
  },
  queueLen: {
    ...READ,
    path: "/queue/len",
    request: { ...ACKS, id: "str", partition: "str?", total: "bool?" },
    reply: { len: "int" },
    bodyBytesMax: acking(small),
  },
  queueClear: {
    ...WRITE,
    path: "/queue/clear",
    request: { ...ACKS, ...ONCE, id: "str", partition: "str?", all: "bool?" },
    reply: {},
    bodyBytesMax: acking(small),
  },
  queueNext: {
    ...READ,
    path: "/queue/next",
    request: { ...ACKS, id: "str", partition: "str?", after: "str?", limit: "int", pollTimeoutMs: "float", waitId: "str?" },
    reply: { items: "items[]" },
    mayWait: (envelope) => typeof envelope.pollTimeoutMs === "number" && envelope.pollTimeoutMs > 0,
    largeReply: true,
    bodyBytesMax: acking(small),
  },
  queueStats: {
    ...READ,
    path: "/queue/stats",
    request: { ...ACKS, id: "str" },
    reply: { partitions: "int", items: "int" },
    bodyBytesMax: acking(small),
  },
  queuePartitions: {
    ...READ,
    path: "/queue/partitions",
    request: { ...ACKS, id: "str", after: "str?", limit: "int" },
    reply: { partitions: "partitions[]", more: "bool" },
    bodyBytesMax: acking(small),
  },
  queueReserve: {
    ...WRITE,
    path: "/queue/reserve",
    request: {
      ...ONCE,
      id: "str",
      n: "int",
      partition: "str?",
      timeoutMs: "float?",
      leaseMs: "float?",
      maxDeliveries: "float?",
      deadLetterPartition: "str?",
      waitId: "str?",
    },
    reply: { reservations: "reservations[]" },
    mayWait: (envelope) => envelope.timeoutMs !== 0,
  },
  queueAck: {
    ...WRITE,
    path: "/queue/ack",
    request: { ...ONCE, id: "str", tokens: "str[]" },
    reply: { refused: "str[]" },
    bodyBytesMax: (limits) => limits.queuePartitionItemsMax * 64 + ENVELOPE_BYTES_MAX,
  },
  queueRelease: {
    ...WRITE,
    path: "/queue/release",
    request: { ...ONCE, id: "str", token: "str", delayMs: "float?" },
    reply: {},
  },
  queueExtend: {
    ...WRITE,
    path: "/queue/extend",
    request: { ...ONCE, id: "str", token: "str", ms: "float" },
    reply: { leaseEndsAt: "float" },
  },
} as const satisfies Record<string, CallSpec>;

/** The protocol's own routes, which are no Backend call. */
export const CONTROL_CALLS = {
  /** Items put and got per queue since the server started, for the web console (server/counters.ts). */
  queueCounters: {
    ...READ,
    path: "/queue/counters",
    request: { id: "str" },
    reply: { putItems: "int", gotItems: "int", atMs: "float", history: "counts[]" },
  },
  /** Ends waits in progress by the ids their clients gave them (server/waits.ts). */
  waitsCancel: {
    ...WRITE,
    path: "/waits/cancel",
    request: { waitIds: "str[]" },
    reply: {},
    retrySafe: true,
    bodyBytesMax: () => WAIT_IDS_MAX * (WAIT_ID_LENGTH_MAX + 3) + ENVELOPE_BYTES_MAX,
  },
  /**
   * Several calls in one request (docs/protocol.md, "Batches"). A batch as a whole is
   * never repeated: each of its calls is judged on its own (client/transport.ts).
   */
  batch: {
    ...WRITE,
    path: "/batch",
    // `calls` is an array of [path, envelope] pairs; replies are [status, answer] pairs.
    request: {},
    reply: {},
    bodyBytesMax: () => BATCH_BYTES_MAX,
  },
} as const satisfies Record<string, CallSpec>;

export type CallName = keyof typeof CALLS;
export type RouteName = CallName | keyof typeof CONTROL_CALLS;

/** Every row, Backend calls and control routes. */
export const ROUTE_SPECS: { readonly [N in RouteName]: CallSpec } = { ...CALLS, ...CONTROL_CALLS };

/** The Backend calls' names, in the table's order. */
export const CALL_NAMES = Object.keys(CALLS) as CallName[];

/** Every route's full path, by name. All are `POST` with a MessagePack body. */
export const ROUTES = Object.fromEntries(
  (Object.keys(ROUTE_SPECS) as RouteName[]).map((name) => [name, `${PROTOCOL_PREFIX}${ROUTE_SPECS[name].path}`]),
) as { readonly [N in RouteName]: string };

export function isRetrySafe(route: RouteName, envelope: Envelope): boolean {
  // A call with a request id is applied at most once, however often it is sent.
  if (typeof envelope.requestId === "string") return true;
  const safe = ROUTE_SPECS[route].retrySafe;
  return typeof safe === "function" ? safe(envelope) : safe;
}

/** The calls that change state and so carry a request id (their rows list `requestId`). */
const ONCE_ROUTES: ReadonlySet<RouteName> = new Set((Object.keys(ROUTE_SPECS) as RouteName[]).filter((name) => "requestId" in ROUTE_SPECS[name].request));

export function carriesRequestId(route: RouteName): boolean {
  return ONCE_ROUTES.has(route);
}

export function mayWait(route: RouteName, envelope: Envelope): boolean {
  const waits = ROUTE_SPECS[route].mayWait;
  return waits !== false && waits(envelope);
}

// ---- the envelope types a row gives ----

type Base<S> = S extends `${infer T}?` ? T & FieldType : S & FieldType;
type IsOptional<S> = S extends `${string}?` ? true : false;

/** What a client sends for a row's fields: optional fields may be left out. */
export type Sent<F extends Fields> = {
  -readonly [K in keyof F as IsOptional<F[K]> extends true ? never : K]: FieldTypes[Base<F[K]>];
} & {
  -readonly [K in keyof F as IsOptional<F[K]> extends true ? K : never]?: FieldTypes[Base<F[K]>] | undefined;
};

/** What is read from a row's fields: an absent `bool?` is false, other absent fields undefined. */
export type Decoded<F extends Fields> = {
  -readonly [K in keyof F]: F[K] extends "bool?" ? boolean : IsOptional<F[K]> extends true ? FieldTypes[Base<F[K]>] | undefined : FieldTypes[Base<F[K]>];
};

/** A call's request as the client writes it. */
export type RequestOf<N extends CallName> = Sent<(typeof CALLS)[N]["request"]>;
/** A call's request as the server reads it. */
export type DecodedRequestOf<N extends CallName> = Decoded<(typeof CALLS)[N]["request"]>;
/** A call's answer as the client reads it (optional fields undefined when absent). */
export type ReplyOf<N extends CallName> = Decoded<(typeof CALLS)[N]["reply"]>;

/** The field's type without its `?`, and whether it was optional. */
export function fieldType(spec: FieldSpec): { type: FieldType; optional: boolean } {
  return spec.endsWith("?") ? { type: spec.slice(0, -1) as FieldType, optional: true } : { type: spec as FieldType, optional: false };
}
