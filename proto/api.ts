// The public interface of spec/api.md: what users program against, whether the store is
// embedded (`open`) or remote (`connect`). Both implementations return these types.

import type { DictKey } from "./keys.ts";
import type { Limits } from "./limits.ts";

export type { DictKey } from "./keys.ts";

/** `handle.info()` and `list()` entries. */
export interface ObjectInfo {
  readonly id: string;
  /** undefined for ephemeral objects. */
  readonly name: string | undefined;
  readonly environment: string;
  readonly createdAt: Date;
}

export interface FromNameOptions {
  environment?: string;
  createIfMissing?: boolean;
}

export interface DictFromNameOptions extends FromNameOptions {
  /** Entries not read or written for this long are removed. Default: never. */
  entryTtlMs?: number;
}

export interface EphemeralOptions {
  environment?: string;
}

export interface DictEphemeralOptions extends EphemeralOptions {
  entryTtlMs?: number;
}

export interface CreateOptions {
  environment?: string;
  allowExisting?: boolean;
}

export interface DictCreateOptions extends CreateOptions {
  entryTtlMs?: number;
}

export interface ListOptions {
  environment?: string;
  maxObjects?: number;
  createdBefore?: Date | string | number;
}

export interface DeleteOptions {
  environment?: string;
  allowMissing?: boolean;
}

/** `store.dicts` and `store.queues` have this shape. */
export interface ObjectService<H, FromNameOpts = FromNameOptions, EphemeralOpts = EphemeralOptions, CreateOpts = CreateOptions> {
  fromName(name: string, options?: FromNameOpts): Promise<H>;
  fromId(id: string): Promise<H>;
  ephemeral(options?: EphemeralOpts): Promise<H>;
  create(name: string, options?: CreateOpts): Promise<void>;
  list(options?: ListOptions): Promise<ObjectInfo[]>;
  delete(name: string, options?: DeleteOptions): Promise<void>;
}

export interface DictService
  extends ObjectService<Dict<any, any>, DictFromNameOptions, DictEphemeralOptions, DictCreateOptions> {
  fromName<K extends DictKey = DictKey, V = unknown>(name: string, options?: DictFromNameOptions): Promise<Dict<K, V>>;
  fromId<K extends DictKey = DictKey, V = unknown>(id: string): Promise<Dict<K, V>>;
  ephemeral<K extends DictKey = DictKey, V = unknown>(options?: DictEphemeralOptions): Promise<Dict<K, V>>;
}

export interface QueueService extends ObjectService<Queue<any>> {
  fromName<T = unknown>(name: string, options?: FromNameOptions): Promise<Queue<T>>;
  fromId<T = unknown>(id: string): Promise<Queue<T>>;
  ephemeral<T = unknown>(options?: EphemeralOptions): Promise<Queue<T>>;
}

interface Handle {
  readonly id: string;
  /** undefined for ephemeral objects. */
  readonly name: string | undefined;
  info(): Promise<ObjectInfo>;
  /** Ends this handle; an ephemeral object is deleted. Later calls on the handle are ClosedError. */
  close(): Promise<void>;
  /**
   * Modal's JavaScript name: `close()` for the handle that `ephemeral()` returned (which,
   * unlike Modal's, deletes the object at once); on any other handle it throws InvalidError
   * ("Queue is not ephemeral.") synchronously, as Modal's SDK does.
   */
  closeEphemeral(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type DictEntries<K, V> = Record<string, V> | Map<K, V> | Iterable<readonly [K, V]>;

export interface Dict<K extends DictKey = DictKey, V = unknown> extends Handle {
  /** The same as `id` (the name of Modal's proposed JavaScript Dict). */
  readonly dictId: string;
  /** true when written; false when `skipIfExists` found the key and wrote nothing. */
  put(key: K, value: V, options?: { skipIfExists?: boolean }): Promise<boolean>;
  get(key: K): Promise<V | undefined>;
  get<F>(key: K, fallback: F): Promise<V | F>;
  contains(key: K): Promise<boolean>;
  /** Removes and returns the value; KeyError when missing and no fallback is given. */
  pop(key: K): Promise<V>;
  pop<F>(key: K, fallback: F): Promise<V | F>;
  /** One atomic write of all entries. */
  update(entries: DictEntries<K, V>): Promise<void>;
  len(): Promise<number>;
  clear(): Promise<void>;
  keys(): AsyncIterableIterator<K>;
  values(): AsyncIterableIterator<V>;
  items(): AsyncIterableIterator<[K, V]>;
}

export interface QueuePutOptions {
  partition?: string;
  partitionTtlMs?: number;
  timeoutMs?: number;
}

export interface QueueGetOptions {
  partition?: string;
  timeoutMs?: number;
}

export interface QueueLenOptions {
  partition?: string;
  total?: boolean;
}

export interface QueueClearOptions {
  partition?: string;
  all?: boolean;
}

export interface QueueIterateOptions {
  partition?: string;
  itemPollTimeoutMs?: number;
}

/** The handler of `Queue.process()`: resolves to ack the item, throws to release it with backoff. */
export type ReservationHandler<T> = (value: T, reservation: Reservation<T>) => unknown;

/** `Queue.process(handler, options)`. */
export interface QueueProcessOptions<T = unknown> {
  /** Handlers running at once, at most (default 1). */
  concurrency?: number;
  /** The lease of each reservation (default 30,000), extended every half lease while its handler runs. */
  leaseMs?: number;
  partition?: string;
  /** Passed to each reserve: an item whose lease ends after this many deliveries is dead-lettered. */
  maxDeliveries?: number;
  /** Where items go after maxDeliveries (only with maxDeliveries); without it they are dropped. */
  deadLetterPartition?: string;
  /**
   * Receives handler errors (with their reservation) and the worker's own failures
   * (reserve, ack, release, extend; reservation undefined). Without it they are logged.
   */
  onError?: (error: unknown, reservation: Reservation<T> | undefined) => void;
}

/** What `Queue.process()` returns at once. */
export interface QueueWorker {
  /** Stops reserving, waits for running handlers (each acked or released), releases what was reserved but not started. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** One partition of a queue, as `Queue.partitions()` yields it. */
export interface QueuePartitionInfo {
  /** undefined: the default partition */
  partition: string | undefined;
  /** items in it, reserved ones included */
  len: number;
  /** of which reserved now */
  reserved: number;
  /** when it expires if nothing more is put (the store's clock); undefined: never (Infinity TTL) */
  expiresAt: Date | undefined;
}

/** `reserve(n, options)`: getMany's options plus the lease's (spec, "Reliable delivery"). */
export interface QueueReserveOptions extends QueueGetOptions {
  /** Default 30,000 (or limits.leaseMsMax if lower); a positive integer up to leaseMsMax. */
  leaseMs?: number;
  /** Once an item has been delivered this many times, a lease that ends without ack dead-letters it. */
  maxDeliveries?: number;
  /** Where such an item goes (same queue); without it the item is dropped. Only with maxDeliveries. */
  deadLetterPartition?: string;
}

/** An item reserved by `reserve`: it stays in its partition, invisible, until the lease ends or it is acked. */
export interface Reservation<T = unknown> {
  readonly value: T;
  /** 1 on its first reservation, 2 after one lease ended or a release, ... */
  readonly deliveries: number;
  /** The partition it came from; undefined for the default partition. */
  readonly partition: string | undefined;
  /** When the lease ends (the store's clock); `extend` moves it. */
  readonly leaseEndsAt: Date;
  /** The queue it was reserved from. */
  readonly queueId: string;
  /** Opaque: names the item and this reservation of it (docs/protocol.md, "Reservations"). */
  readonly token: string;
  /** Done: the item is removed for good. Resolves if the item is gone already; LeaseExpiredError if the lease ended and it is not. */
  ack(): Promise<void>;
  /** Ends the lease now: the item is visible again at its place after `delayMs` (default 0). */
  release(options?: { delayMs?: number }): Promise<void>;
  /** The lease now ends `ms` from now (it may shorten it). */
  extend(ms: number): Promise<void>;
}

export interface Queue<T = unknown> extends Handle {
  /** The same as `id` (Modal's JavaScript name). */
  readonly queueId: string;
  put(value: T, options?: QueuePutOptions): Promise<void>;
  putMany(values: readonly T[], options?: QueuePutOptions): Promise<void>;
  get(options?: QueueGetOptions): Promise<T>;
  getMany(n: number, options?: QueueGetOptions): Promise<T[]>;
  len(options?: QueueLenOptions): Promise<number>;
  clear(options?: QueueClearOptions): Promise<void>;
  iterate(options?: QueueIterateOptions): AsyncIterableIterator<T>;
  /**
   * The partitions that hold items (or were put to and have not expired), in partition-key
   * order (UTF-8 bytes, the default partition first), streamed in pages.
   */
  partitions(): AsyncIterableIterator<QueuePartitionInfo>;
  /** 1..n reservations in FIFO order, as soon as one item is there; QueueEmptyError like getMany. */
  reserve(n: number, options?: QueueReserveOptions): Promise<Reservation<T>[]>;
  /** Acks reservations of this queue in one durable write; LeaseExpiredError with `refused` after acking the rest. */
  ack(reservations: readonly Reservation<T>[]): Promise<void>;
  /**
   * A worker: reserves up to `concurrency` items at a time, runs the handler on each,
   * extends its lease while it runs, acks when it resolves, and releases with a delay of
   * min(1 s * 2^(deliveries - 1), 5 min) when it throws. Returns at once.
   */
  process(handler: ReservationHandler<T>, options?: QueueProcessOptions<T>): QueueWorker;
}

export interface Store {
  readonly dicts: DictService;
  readonly queues: QueueService;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type Durability = "fsync" | "buffered";

export interface Clock {
  now(): number;
}

/** `open(path | options)`. */
export interface OpenOptions {
  path?: string;
  memory?: boolean;
  /**
   * A PostgreSQL connection string (docs/postgres.md): the store lives in that database,
   * shared by every process that opens it. Not with `path` or `memory`.
   */
  postgres?: string;
  durability?: Durability;
  limits?: Partial<Limits>;
  clock?: Clock;
  environment?: string;
}

/** `connect(url, options)`. */
export interface ConnectOptions {
  token?: string;
  environment?: string;
  /** Total time to keep retrying an unreachable server before UnavailableError. Default 5 s. */
  retryTimeoutMs?: number;
  /**
   * Whether calls that change state carry a request id, so that the server applies each at
   * most once and the client may retry them after a broken connection (docs/protocol.md,
   * "Request ids"). Default true; false only to measure what the ids cost.
   */
  requestIds?: boolean;
  /**
   * Whether remote gets are served "in transit" (docs/protocol.md, "Got items in transit"):
   * held for this client as a reservation until its next call acknowledges them, so that
   * the items of a client that vanishes after the server took them come back. Default
   * false: a review found that an item whose acknowledgement is late (more than the lease of
   * requestIdRetentionMs + 5 s), or lost when the store closes, is delivered a second time,
   * and getMany(100) costs about 80% more; until that is fixed it is opt-in. Needs
   * requestIds.
   */
  getsInTransit?: boolean;
  /**
   * How long a call that answers at once waits for the answer once its request is sent,
   * before UnavailableError (not retried: a server that accepts connections but does not
   * answer is stuck). Default 30 s. Waits (long-polls) have their own bound.
   */
  answerTimeoutMs?: number;
  /** How often ephemeral objects are kept alive. Default 30 s. */
  heartbeatIntervalMs?: number;
  /** Keep-alive connections for calls that answer at once. Default 64; waiting calls have their own. */
  connections?: number;
  /**
   * Requests in flight, at most, for calls that answer at once. Default 4. Calls made while
   * that many are in flight wait in the client and go together, as one batch request, when
   * one answers: many concurrent small calls cost a few requests. `Infinity` sends each call
   * as a request of its own.
   */
  requestsInFlightMax?: number;
}
