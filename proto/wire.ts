// The HTTP protocol shared by the server (server/) and the remote client (client/remote.ts):
// one route per Backend method, the MessagePack envelope codec, and the wire form of an
// ObjectRecord. docs/protocol.md is the written form of this file; change both together.
//
// Envelopes are plain MessagePack maps with string keys. Values and dict keys travel as
// `bin` fields holding the bytes that proto/values.ts and proto/keys.ts produced, so the
// server never decodes them. Absent optional fields are left out of the map (a `nil`
// is read as absent too); msgpackr-only extensions are never written, so a client in any
// language with a MessagePack library can speak this protocol.

import { Packr, Unpackr } from "msgpackr";
import type { ObjectKind, ObjectRecord } from "./backend.ts";

/** Protocol version, the first path segment of every route. */
export const PROTOCOL_PREFIX = "/v1";

/** The content type of request and success bodies. */
export const MSGPACK_TYPE = "application/msgpack";
/** Other names for MessagePack that the server accepts in requests. */
export const MSGPACK_TYPE_ALIASES: readonly string[] = [MSGPACK_TYPE, "application/x-msgpack", "application/vnd.msgpack"];
/** Error bodies are JSON `{ code, message }`, readable without a MessagePack library. */
export const JSON_TYPE = "application/json";

/** The one unauthenticated route: `GET /v1/health`. */
export const HEALTH_PATH = `${PROTOCOL_PREFIX}/health`;

/** Every RPC route, by the Backend method it calls. All are `POST` with a MessagePack body. */
export const ROUTES = {
  getObject: `${PROTOCOL_PREFIX}/objects/get`,
  getObjectById: `${PROTOCOL_PREFIX}/objects/get-by-id`,
  listObjects: `${PROTOCOL_PREFIX}/objects/list`,
  deleteObject: `${PROTOCOL_PREFIX}/objects/delete`,
  deleteObjectById: `${PROTOCOL_PREFIX}/objects/delete-by-id`,
  heartbeat: `${PROTOCOL_PREFIX}/objects/heartbeat`,
  dictGet: `${PROTOCOL_PREFIX}/dict/get`,
  dictContains: `${PROTOCOL_PREFIX}/dict/contains`,
  dictPut: `${PROTOCOL_PREFIX}/dict/put`,
  dictUpdate: `${PROTOCOL_PREFIX}/dict/update`,
  dictPop: `${PROTOCOL_PREFIX}/dict/pop`,
  dictLen: `${PROTOCOL_PREFIX}/dict/len`,
  dictClear: `${PROTOCOL_PREFIX}/dict/clear`,
  dictScan: `${PROTOCOL_PREFIX}/dict/scan`,
  queuePut: `${PROTOCOL_PREFIX}/queue/put`,
  queueGet: `${PROTOCOL_PREFIX}/queue/get`,
  queueLen: `${PROTOCOL_PREFIX}/queue/len`,
  queueClear: `${PROTOCOL_PREFIX}/queue/clear`,
  queueNext: `${PROTOCOL_PREFIX}/queue/next`,
  queueStats: `${PROTOCOL_PREFIX}/queue/stats`,
} as const;

export type RouteName = keyof typeof ROUTES;

/**
 * Calls that may be sent again after a connection failure that leaves it unknown whether
 * the server ran them: repeating one cannot duplicate or lose data. docs/protocol.md
 * explains each choice. A call that never left the client (connection refused) and a
 * `503 UNAVAILABLE` answer (the server did nothing) are retried for every route.
 */
export const RETRY_SAFE: ReadonlySet<RouteName> = new Set<RouteName>([
  "getObjectById",
  "listObjects",
  "deleteObjectById",
  "heartbeat",
  "dictGet",
  "dictContains",
  "dictLen",
  "dictScan",
  "dictClear",
  "dictUpdate",
  "queueLen",
  "queueClear",
  "queueNext",
  "queueStats",
]);

/** `getObject` is retry-safe only as a lookup or a create-if-missing; `dictPut` only without skipIfExists. */
export function isRetrySafe(route: RouteName, body: Record<string, unknown>): boolean {
  if (RETRY_SAFE.has(route)) return true;
  if (route === "getObject") return body.mode === "lookup" || body.mode === "createIfMissing";
  if (route === "dictPut") return body.skipIfExists !== true;
  return false;
}

/**
 * Calls that may wait at the server (a long-poll, or a put waiting for room). The client
 * sends them on connections of their own, so that however many of them are waiting they
 * never hold up the calls that would end their wait.
 */
export function mayWait(route: RouteName, body: Record<string, unknown>): boolean {
  if (route === "queueGet" || route === "queuePut") return body.timeoutMs !== 0;
  if (route === "queueNext") return typeof body.pollTimeoutMs === "number" && body.pollTimeoutMs > 0;
  return false;
}

// skipValues leaves out fields whose value is undefined while packing, without a copy.
// (msgpackr 2.1's type declarations do not list the option yet.)
const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true, skipValues: [undefined] } as ConstructorParameters<typeof Packr>[0]);
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Packs an envelope; fields whose value is undefined are left out. */
export function packEnvelope(envelope: Record<string, unknown>): Buffer {
  return packr.pack(envelope);
}

/** Unpacks one MessagePack value that must fill the whole buffer; throws on malformed input. */
export function unpackEnvelope(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/** The wire form of an ObjectRecord (a `nil` or missing name means ephemeral-anonymous). */
export interface WireObject {
  id: string;
  kind: ObjectKind;
  name?: string;
  environment: string;
  createdAt: number;
  ephemeral: boolean;
  entryTtlMs?: number;
}

export function objectToWire(record: ObjectRecord): WireObject {
  return {
    id: record.id,
    kind: record.kind,
    ...(record.name === undefined ? {} : { name: record.name }),
    environment: record.environment,
    createdAt: record.createdAt,
    ephemeral: record.ephemeral,
    ...(record.entryTtlMs === undefined ? {} : { entryTtlMs: record.entryTtlMs }),
  };
}
