// The four scenarios of the side-by-side report (queue put, queue get, dict put, dict get)
// built once over a handful of primitives that every system provides, so that Larder,
// raw classic-level, a bare HTTP server and Redis run exactly the same workload.
//
// Within one shape (value size, batch size, callers) the scenarios run in order on the
// same queue and dict: `queue-put` fills the queue and `queue-get` drains it; `dict-put`
// writes keys k0, k1, ... and `dict-get` reads keys chosen uniformly among those written.
// Before a get scenario the queue or dict is topped up (untimed) to a minimum size.

import { randomBytes } from "node:crypto";
import type { OpFn } from "./runner.ts";

export type ScenarioKind = "queue-put" | "queue-get" | "dict-put" | "dict-get";
export const SCENARIO_KINDS: readonly ScenarioKind[] = ["queue-put", "queue-get", "dict-put", "dict-get"];

export interface Shape {
  readonly valueBytes: number;
  /** Items per operation: 1 uses the single-item call (put/get), more the batch call. */
  readonly batch: number;
  readonly callers: number;
}

/** What a system must do; each method is one operation of the scenario. */
export interface Primitives {
  /** Appends the values at the tail, in order, as one call (put when one, putMany otherwise). */
  queuePut(values: readonly Uint8Array[]): Promise<void>;
  /** Takes up to n items from the head without waiting; returns how many it got (0 = empty). */
  queueGet(n: number): Promise<number>;
  /** Writes the entries as one call (put when one, update otherwise). */
  dictPut(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void>;
  /** Reads the keys; returns how many were found. */
  dictGet(keys: readonly string[]): Promise<number>;
  /**
   * HTTP systems: closes the client's connections between slices (lib/matrix.ts) and starts
   * a fresh client. A dict get of 100 keys with 64 callers opens thousands of sockets, and
   * idle ones must not pile up across systems until the process runs out of descriptors.
   */
  release?(): Promise<void>;
  /** Removes this shape's queue and dict. */
  dispose(): Promise<void>;
}

/** Distinct random values per shape: LevelDB and Redis compress, so values must not repeat. */
const VALUE_POOL_SIZE = 64;
/** A get scenario starts with at least this many operations' worth of items available. */
const GET_OPS_MIN = 10;
const DICT_KEYS_MIN = 1_000;
const TOP_UP_BATCH = 100;

export class Workload {
  private readonly values: Uint8Array[];
  private queued = 0;
  private dictKeys = 0;

  constructor(
    readonly shape: Shape,
    private readonly primitives: Primitives,
    /** Bytes of values one scenario may write at most (bounds disk use and get prefill). */
    private readonly bytesBudget: number,
  ) {
    this.values = Array.from({ length: VALUE_POOL_SIZE }, () => randomBytes(shape.valueBytes));
  }

  /** Most operations a put scenario may issue within the byte budget. */
  get putOpsMax(): number {
    return Math.max(1, Math.floor(this.bytesBudget / (this.shape.valueBytes * this.shape.batch)));
  }

  /** Untimed preparation before a scenario: tops the queue or dict up for get scenarios. */
  async prepare(kind: ScenarioKind): Promise<void> {
    const itemsMax = Math.max(1, Math.floor(this.bytesBudget / this.shape.valueBytes));
    const wanted = Math.min(itemsMax, this.shape.callers * this.shape.batch * GET_OPS_MIN);
    if (kind === "queue-get") {
      while (this.queued < wanted) {
        const n = Math.min(TOP_UP_BATCH, wanted - this.queued);
        await this.primitives.queuePut(this.valueBatch(this.queued, n));
        this.queued += n;
      }
    } else if (kind === "dict-get") {
      const keysWanted = Math.min(itemsMax, Math.max(DICT_KEYS_MIN, wanted));
      while (this.dictKeys < keysWanted) {
        const n = Math.min(TOP_UP_BATCH, keysWanted - this.dictKeys);
        await this.primitives.dictPut(this.entryBatch(this.dictKeys, n));
        this.dictKeys += n;
      }
    }
  }

  /** The operation of one scenario. */
  op(kind: ScenarioKind): OpFn {
    const { batch } = this.shape;
    const p = this.primitives;
    switch (kind) {
      case "queue-put":
        return async (_caller, seq) => {
          await p.queuePut(this.valueBatch(seq * batch, batch));
          this.queued += batch;
        };
      case "queue-get":
        return async () => {
          const got = await p.queueGet(batch);
          this.queued = Math.max(0, this.queued - got);
          return got;
        };
      case "dict-put":
        return async () => {
          // Keys are claimed before the call so that concurrent callers write distinct keys.
          const first = this.dictKeys;
          this.dictKeys += batch;
          await p.dictPut(this.entryBatch(first, batch));
        };
      case "dict-get":
        return async () => {
          const keys: string[] = [];
          for (let i = 0; i < batch; i++) keys.push(`k${Math.floor(Math.random() * this.dictKeys)}`);
          await p.dictGet(keys);
        };
    }
  }

  /** Untimed, between slices: see Primitives.release. */
  async release(): Promise<void> {
    await this.primitives.release?.();
  }

  dispose(): Promise<void> {
    return this.primitives.dispose();
  }

  private valueBatch(first: number, n: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) out.push(this.values[(first + i) % VALUE_POOL_SIZE]!);
    return out;
  }

  private entryBatch(first: number, n: number): Array<[string, Uint8Array]> {
    const out: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < n; i++) out.push([`k${first + i}`, this.values[(first + i) % VALUE_POOL_SIZE]!]);
    return out;
  }
}

/** A system under test: Larder in one configuration, or a baseline. */
export interface System {
  /** Row label: "larder-fsync", "level-buffered", "redis-always", ... */
  readonly name: string;
  readonly family: "larder" | "level" | "bare-http" | "redis";
  /** fsync: a resolved write is on disk; buffered: survives a process crash only; none: nothing written. */
  readonly durability: "fsync" | "buffered" | "none";
  /** "wire": Larder's framed transport (`larder://`, docs/protocol.md). */
  readonly transport: "embedded" | "http" | "tcp" | "wire";
  /** Fresh primitives for one shape (its own queue and dict). */
  primitives(shape: Shape): Promise<Primitives>;
  close(): Promise<void>;
}
