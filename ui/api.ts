// The console's client: the same HTTP protocol as every client (docs/protocol.md), over
// fetch, with the project's own envelope codec (proto/wire.ts). Keys and values are
// encoded and decoded with proto/keys.ts and proto/values.ts, so the browser reads
// exactly what the Node.js client wrote. The token travels only in the Authorization
// header; it is kept in sessionStorage (ui/main.ts), never in a URL.

import { encodeKey, decodeKey, type DictKey } from "../proto/keys.ts";
import { decodeValue, encodeValue } from "../proto/values.ts";
import { ROUTES, type RouteName } from "../proto/calls.ts";
import { MSGPACK_TYPE, PROTOCOL_PREFIX, packEnvelope, unpackEnvelope, type WireObject } from "../proto/wire.ts";

export type { WireObject };
export type Kind = "dict" | "queue";
type Envelope = Record<string, unknown>;
type Answer = Record<string, unknown>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Entry {
  key: DictKey;
  /** The encoded key, for paging and for delete. */
  keyBytes: Uint8Array;
  value: unknown;
  /** Set when the stored bytes could not be decoded. */
  undecodable?: string;
}

export interface QueueCounts {
  putItems: number;
  gotItems: number;
  atMs: number;
}

/**
 * `queue/partitions` (docs/protocol.md), by path: a server from before it answers a batch's
 * call to it `404 NOT_FOUND` ("no route"), and the queue page then lists only the
 * partitions it is told about.
 */
export const PARTITIONS_PATH = `${PROTOCOL_PREFIX}/queue/partitions`;

export interface PartitionRecord {
  /** undefined: the default partition */
  partition: string | undefined;
  len: number;
  /** items reserved (leased) and not yet acked */
  reserved: number;
  /** ms on the server's clock; undefined: never */
  expiresAt: number | undefined;
}

/** Whether a batch's reply says the server has no such route (rather than no such object). */
export function isNoRoute(reply: unknown): boolean {
  return reply instanceof ApiError && reply.status === 404 && reply.message.startsWith("no route");
}

export function partitionsOf(answer: Answer): { partitions: PartitionRecord[]; more: boolean } {
  const partitions = (answer.partitions as Array<Record<string, unknown>>).map((p) => ({
    partition: typeof p.partition === "string" ? p.partition : undefined,
    len: p.len as number,
    reserved: typeof p.reserved === "number" ? p.reserved : 0,
    expiresAt: typeof p.expiresAt === "number" && Number.isFinite(p.expiresAt) ? p.expiresAt : undefined,
  }));
  return { partitions, more: answer.more === true };
}

export interface PeekedItem {
  value: unknown;
  undecodable?: string;
}

export class Api {
  constructor(readonly token: string | undefined) {}

  /** The server's root, from the page's own address (`…/ui/` → `…/`), so a base path is kept. */
  private url(path: string): URL {
    return new URL(`..${path}`, document.baseURI);
  }

  async call(route: RouteName, envelope: Envelope): Promise<Answer> {
    const headers: Record<string, string> = { "content-type": MSGPACK_TYPE };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(this.url(ROUTES[route]), { method: "POST", headers, body: packEnvelope(envelope) as Uint8Array<ArrayBuffer>, cache: "no-store" });
    if (!res.ok) throw await errorOf(res);
    return unpackEnvelope(new Uint8Array(await res.arrayBuffer())) as Answer;
  }

  /** Several calls in one request (`/v1/batch`), each by route name or path; each reply is its answer or its error. */
  async batch(calls: ReadonlyArray<readonly [RouteName | `/${string}`, Envelope]>): Promise<Array<Answer | ApiError>> {
    const replies: Array<Answer | ApiError> = [];
    for (let i = 0; i < calls.length; i += 1000) {
      const chunk = calls.slice(i, i + 1000).map(([route, envelope]) => [route.startsWith("/") ? route : ROUTES[route as RouteName], envelope]);
      const answer = await this.call("batch", { calls: chunk });
      for (const [status, body] of answer.replies as Array<[number, Answer]>) {
        replies.push(status === 200 ? body : new ApiError(status, String(body.code), String(body.message)));
      }
    }
    return replies;
  }

  async listObjects(kind: Kind, environment: string | undefined, maxObjects: number): Promise<WireObject[]> {
    return (await this.call("listObjects", { kind, environment, maxObjects })).objects as WireObject[];
  }

  async object(kind: Kind, id: string): Promise<WireObject> {
    return (await this.call("getObjectById", { kind, id })).object as WireObject;
  }

  async dictLen(id: string): Promise<number> {
    return (await this.call("dictLen", { id })).len as number;
  }

  async dictScan(id: string, after: Uint8Array | undefined, limit: number): Promise<{ entries: Entry[]; more: boolean }> {
    const page = await this.call("dictScan", { id, after, limit, values: true });
    const entries = (page.entries as Array<[Uint8Array, Uint8Array]>).map(([keyBytes, valueBytes]) => ({ keyBytes, key: decodeKey(keyBytes), ...decoded(valueBytes) }));
    return { entries, more: page.more as boolean };
  }

  /** The value of a key, or `{ missing: true }`. */
  async dictGet(id: string, key: DictKey): Promise<{ missing: true } | PeekedItem> {
    const bytes = (await this.call("dictGet", { id, key: encodeKey(key) })).value as Uint8Array | undefined;
    return bytes === undefined || bytes === null ? { missing: true } : decoded(bytes);
  }

  async dictContains(id: string, key: DictKey): Promise<boolean> {
    return (await this.call("dictContains", { id, key: encodeKey(key) })).contains as boolean;
  }

  async dictPut(id: string, key: DictKey, value: unknown): Promise<void> {
    await this.call("dictPut", { id, key: encodeKey(key), value: encodeValue(value) });
  }

  /** Deletes a key (`dict/pop`); false when it was missing already. */
  async dictDelete(id: string, keyBytes: Uint8Array): Promise<boolean> {
    const value = (await this.call("dictPop", { id, key: keyBytes })).value;
    return value !== undefined && value !== null;
  }

  async queueLen(id: string, partition: string | undefined): Promise<number> {
    return (await this.call("queueLen", { id, partition })).len as number;
  }

  /** The first `limit` items of a partition, without removing them (`queue/next`). */
  async queuePeek(id: string, partition: string | undefined, limit: number): Promise<PeekedItem[]> {
    const answer = await this.call("queueNext", { id, partition, limit, pollTimeoutMs: 0 });
    return (answer.items as Array<{ value: Uint8Array }>).map((item) => decoded(item.value));
  }

  async queueClearAll(id: string): Promise<void> {
    await this.call("queueClear", { id, all: true });
  }

  async queueClearPartition(id: string, partition: string | undefined): Promise<void> {
    await this.call("queueClear", { id, partition });
  }

  async queueCounts(id: string): Promise<QueueCounts> {
    const answer = await this.call("queueCounters", { id });
    return { putItems: answer.putItems as number, gotItems: answer.gotItems as number, atMs: answer.atMs as number };
  }
}

export function encodeKeyBytes(key: DictKey): Uint8Array {
  return encodeKey(key);
}

function decoded(bytes: Uint8Array): PeekedItem {
  try {
    return { value: decodeValue(bytes) };
  } catch (err) {
    return { value: bytes, undecodable: (err as Error).message };
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { code?: unknown; message?: unknown };
    if (typeof body.code === "string") return new ApiError(res.status, body.code, String(body.message));
  } catch {
    // not the server's JSON error body: something in between answered
  }
  return new ApiError(res.status, "INTERNAL", `the server answered ${res.status} ${res.statusText}`);
}
