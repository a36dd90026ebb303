// The byte-level contract between the typed client (store/store.ts) and a storage
// implementation. The embedded engine (engine/) implements it in process; the remote
// backend (client/remote.ts) implements it over HTTP against a server that forwards each
// call to an engine. Keys arrive encoded by proto/keys.ts and values by proto/values.ts:
// a backend never needs to decode a value.
//
// Every method validates its own arguments (names, sizes, partitions, timeouts) because
// the server hands it whatever arrived on the wire.

import type { ObjectKind } from "./validate.ts";

export type { ObjectKind } from "./validate.ts";

/** How `getObject` treats a name that does or does not exist. */
export type LookupMode =
  /** existing only: NotFoundError when missing */
  | "lookup"
  /** existing, or a new one */
  | "createIfMissing"
  /** a new one: AlreadyExistsError when it exists */
  | "createFailIfExists"
  /** a new anonymous object; `name` must be undefined */
  | "ephemeral";

export interface ObjectRecord {
  id: string;
  kind: ObjectKind;
  /** undefined for ephemeral objects */
  name: string | undefined;
  environment: string;
  /** ms since the epoch, from the store's clock */
  createdAt: number;
  ephemeral: boolean;
  /** dicts only: entry TTL in ms, undefined for none */
  entryTtlMs: number | undefined;
}

export interface GetObjectRequest {
  name?: string;
  /** undefined: the store's (or the server's) default environment */
  environment?: string;
  mode: LookupMode;
  /** dicts only; applied when created, and updated on an existing dict when given */
  entryTtlMs?: number;
}

export interface ListObjectsRequest {
  environment?: string;
  maxObjects?: number;
  /** ms since the epoch; only objects created strictly before it */
  createdBefore?: number;
}

export interface DeleteObjectRequest {
  name: string;
  environment?: string;
  allowMissing: boolean;
}

/** Waits can be cancelled: an aborted wait rejects with ClosedError. */
export interface WaitOptions {
  signal?: AbortSignal;
  /**
   * Arrival order of a wait that goes on from an earlier round (a remote long-poll loop): it
   * takes its place among the waiters by this ticket instead of at the back. Absent: now.
   */
  ticket?: number;
}

export interface DictScanRequest {
  /** encoded key to start after (exclusive); undefined starts at the first key */
  after?: Uint8Array;
  /** entries per page, at least 1 */
  limit: number;
  /** false to leave values out (keys()) */
  values: boolean;
}

export interface DictScanPage {
  /** [encodedKey, encodedValue]; the value is an empty buffer when `values` was false */
  entries: Array<[Uint8Array, Uint8Array]>;
  /** false when the scan reached the end */
  more: boolean;
}

export interface QueuePutRequest extends WaitOptions {
  /** undefined: the default partition */
  partition?: string;
  /** undefined: the store's default (limits.partitionTtlMs) */
  partitionTtlMs?: number;
  /** undefined waits for room without limit; 0 is one attempt */
  timeoutMs?: number;
}

export interface QueueGetRequest extends WaitOptions {
  partition?: string;
  /** undefined waits without limit; 0 is one attempt */
  timeoutMs?: number;
}

/** `reserve`: a get that leaves the items in place under a lease (spec, "Reliable delivery"). */
export interface QueueReserveRequest extends QueueGetRequest {
  /** undefined: min(30,000, limits.leaseMsMax); a positive integer up to leaseMsMax */
  leaseMs?: number;
  /** a positive integer; undefined: no limit */
  maxDeliveries?: number;
  /** a partition key of the same queue; only with maxDeliveries */
  deadLetterPartition?: string;
}

/** One reserved item. */
export interface ReservedItem {
  /** opaque: names the item and this reservation of it; pass back to ack, release, extend */
  token: string;
  value: Uint8Array;
  /** 1 on the item's first reservation */
  deliveries: number;
  /** undefined: the default partition */
  partition: string | undefined;
  /** ms on the store's clock */
  leaseEndsAt: number;
}

export interface QueueNextRequest extends WaitOptions {
  partition?: string;
  /** cursor of the last item seen; undefined starts at the head */
  after?: string;
  /** items per page, at least 1 */
  limit: number;
  /** how long to wait for an item after `after` when there is none yet; 0 does not wait */
  pollTimeoutMs: number;
}

export interface QueueItem {
  value: Uint8Array;
  /** opaque; pass back as `after` to continue after this item */
  cursor: string;
}

/** `queuePartitions`: one page of a queue's partitions in key order. */
export interface QueuePartitionsRequest {
  /**
   * The partition key to start after (exclusive): the last `partition` of the page before,
   * `""` for the default partition. Undefined starts at the first, the default partition.
   */
  after?: string;
  /** partitions per page, at least 1 (the backend may return fewer) */
  limit: number;
}

export interface PartitionInfo {
  /** undefined: the default partition */
  partition: string | undefined;
  /** items in it, reserved ones included */
  len: number;
  /** of which reserved now */
  reserved: number;
  /** ms on the store's clock when it expires if nothing more is put; Infinity: never */
  expiresAt: number;
}

export interface QueuePartitionsPage {
  partitions: PartitionInfo[];
  /** false when the listing reached the last partition */
  more: boolean;
}

export interface QueueStats {
  partitions: number;
  items: number;
}

/**
 * What a remote call that changes state carries so that it is applied at most once
 * (docs/protocol.md, "Request ids"): the server passes it to the engine. The embedded
 * store never gives one.
 */
export interface CallOptions {
  /** The client's id of the call, the same for its retries; 1 to 64 of [A-Za-z0-9_-]. */
  requestId?: string;
  /** True on a retry (the engine looks every id up, retry or not: a first attempt may come late). */
  retry?: boolean;
  /**
   * Set by the engine when it answered with the outcome of an earlier attempt of this id
   * rather than running the call: the server then does not count its items again.
   */
  replayed?: boolean;
}

export interface Backend {
  /**
   * True when the backend applies a call's request id at most once (engine/requests.ts).
   * A server on a backend without it cannot answer a retry of a call that changes state.
   */
  readonly appliesRequestIds?: boolean;
  /** How long the record of an applied request id is kept, when it applies them (GET /v1/health tells clients). */
  readonly requestIdRetentionMs?: number;

  getObject(kind: ObjectKind, request: GetObjectRequest, call?: CallOptions): Promise<ObjectRecord>;
  getObjectById(kind: ObjectKind, id: string): Promise<ObjectRecord>;
  /** Named objects only, newest first. */
  listObjects(kind: ObjectKind, request: ListObjectsRequest): Promise<ObjectRecord[]>;
  deleteObject(kind: ObjectKind, request: DeleteObjectRequest, call?: CallOptions): Promise<void>;
  /** Deletes by id (ephemeral close); NotFoundError when already gone. */
  deleteObjectById(kind: ObjectKind, id: string, call?: CallOptions): Promise<void>;
  /** Keeps an ephemeral object alive (remote); NotFoundError when it is gone. */
  heartbeat(kind: ObjectKind, id: string): Promise<void>;

  dictGet(id: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  dictContains(id: string, key: Uint8Array): Promise<boolean>;
  /** Returns false only when skipIfExists found the key. */
  dictPut(id: string, key: Uint8Array, value: Uint8Array, skipIfExists: boolean, call?: CallOptions): Promise<boolean>;
  dictUpdate(id: string, entries: Array<[Uint8Array, Uint8Array]>, call?: CallOptions): Promise<void>;
  /** The removed value, or undefined when the key was missing. */
  dictPop(id: string, key: Uint8Array, call?: CallOptions): Promise<Uint8Array | undefined>;
  dictLen(id: string): Promise<number>;
  dictClear(id: string, call?: CallOptions): Promise<void>;
  dictScan(id: string, request: DictScanRequest): Promise<DictScanPage>;

  /** All values or none, in order, at the tail of the partition. */
  queuePut(id: string, values: Uint8Array[], request: QueuePutRequest, call?: CallOptions): Promise<void>;
  /** 1..n values from the head; [] when none arrived within timeoutMs. */
  queueGet(id: string, n: number, request: QueueGetRequest, call?: CallOptions): Promise<Uint8Array[]>;
  queueLen(id: string, request: { partition?: string; total?: boolean }): Promise<number>;
  queueClear(id: string, request: { partition?: string; all?: boolean }, call?: CallOptions): Promise<void>;
  /** Reads without removing: items after the cursor, in FIFO order. */
  queueNext(id: string, request: QueueNextRequest): Promise<QueueItem[]>;
  queueStats(id: string): Promise<QueueStats>;
  /**
   * A page of the queue's partitions that hold items (or were put to and have not
   * expired), in partition-key order (UTF-8 bytes, the default partition first), read
   * from partition records without a scan of the items.
   */
  queuePartitions(id: string, request: QueuePartitionsRequest): Promise<QueuePartitionsPage>;

  /** 1..n items from the head, left in place under a lease; [] when none arrived within timeoutMs. */
  queueReserve(id: string, n: number, request: QueueReserveRequest, call?: CallOptions): Promise<ReservedItem[]>;
  /**
   * Acks in one durable write. Tokens whose item is gone resolve; answers the tokens refused
   * because their lease has ended (the item visible again, reserved anew, dead-lettered).
   */
  queueAck(id: string, tokens: string[], call?: CallOptions): Promise<string[]>;
  /** Ends the lease now; the item is visible again after delayMs (0: at once). LeaseExpiredError unless still held. */
  queueRelease(id: string, token: string, delayMs: number, call?: CallOptions): Promise<void>;
  /** The lease now ends ms from now; answers the new end (store clock ms). LeaseExpiredError unless still held. */
  queueExtend(id: string, token: string, ms: number, call?: CallOptions): Promise<number>;

  close(): Promise<void>;
}
