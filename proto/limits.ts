// Every limit Larder enforces, as named constants with their unit last. The engine checks
// each one before it writes anything, and the server checks them again at the edge before
// it reads a body in full. `open({ limits })` and `larder serve --limit name=value` override
// any subset of them.

import { InvalidError } from "./errors.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface Limits {
  /** Partitions (with at least one item) per queue. Modal: 100,000. */
  readonly queuePartitionsMax: number;
  /** Items per partition, the default partition included. Modal: 5,000. */
  readonly queuePartitionItemsMax: number;
  /** Encoded bytes per queue item. Modal's guide: 256 KiB. */
  readonly queueItemBytesMax: number;
  /** UTF-8 bytes per partition key. Modal: 64. */
  readonly queuePartitionKeyBytesMax: number;
  /** Default partition TTL in ms after the last put. Modal: 24 h. */
  readonly partitionTtlMs: number;
  /** Encoded bytes per dict value. Modal's guide: 100 MiB. */
  readonly dictValueBytesMax: number;
  /** Encoded bytes per dict key. Larder's own: keys are index keys, keep them small. */
  readonly dictKeyBytesMax: number;
  /** Entries per `Dict.update`. Modal's guide: 10,000. */
  readonly dictUpdateEntriesMax: number;
  /** Encoded key and value bytes per dict. Modal's guide: 10 GiB. */
  readonly dictBytesMax: number;
  /** Longest lease of a queue reservation, in ms. SQS's longest visibility timeout: 12 h. */
  readonly leaseMsMax: number;
}

/** The defaults, one documented object (spec: "Default limits"). */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  queuePartitionsMax: 100_000,
  queuePartitionItemsMax: 5_000,
  queueItemBytesMax: 256 * KiB,
  queuePartitionKeyBytesMax: 64,
  partitionTtlMs: 86_400_000,
  dictValueBytesMax: 100 * MiB,
  dictKeyBytesMax: 16 * KiB,
  dictUpdateEntriesMax: 10_000,
  dictBytesMax: 10 * GiB,
  leaseMsMax: 43_200_000,
});

/** Hard ceilings that no override may pass: they keep one request and one batch bounded. */
export const CEILINGS = Object.freeze({
  /** A single encoded value or request body: Node buffers and LevelDB values stay well under 2 GiB. */
  bytesMax: 1 * GiB,
  /** Partition keys are stored with a one-byte length prefix. */
  partitionKeyBytesMax: 255,
});

const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as Array<keyof Limits>;

/** Merges a partial override onto the defaults, rejecting unknown names and bad numbers. */
export function resolveLimits(overrides: Partial<Limits> | undefined): Limits {
  if (overrides === undefined) return DEFAULT_LIMITS;
  if (typeof overrides !== "object" || overrides === null) {
    throw new InvalidError("limits must be an object of named limits");
  }
  const merged: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(overrides)) {
    if (!LIMIT_NAMES.includes(name as keyof Limits)) {
      throw new InvalidError(`unknown limit '${name}'; known limits: ${LIMIT_NAMES.join(", ")}`);
    }
    if (value === undefined) continue;
    const isTtl = name === "partitionTtlMs";
    const valid = typeof value === "number" && value > 0 && (Number.isInteger(value) || (isTtl && value === Infinity));
    if (!valid) throw new InvalidError(`limit ${name} must be a positive integer, got ${String(value)}`);
    merged[name] = value;
  }
  boundEntriesByDict(merged, overrides);
  const limits = merged as unknown as Limits;
  assertLimitRelations(limits);
  return Object.freeze(limits);
}

/**
 * A dict's entry can never be bigger than the dict: a per-entry limit left at its default
 * is lowered to dictBytesMax, so that `{ dictBytesMax: 4096 }` alone is a sensible
 * override (entries of at most 4096 bytes). A per-entry limit set above dictBytesMax in
 * the same override is still a contradiction, refused below.
 */
function boundEntriesByDict(merged: Record<string, number>, overrides: Partial<Limits>): void {
  for (const name of ["dictKeyBytesMax", "dictValueBytesMax"] as const) {
    if (overrides[name] === undefined) merged[name] = Math.min(merged[name]!, merged["dictBytesMax"]!);
  }
}

function assertLimitRelations(limits: Limits): void {
  if (limits.queueItemBytesMax > CEILINGS.bytesMax || limits.dictValueBytesMax > CEILINGS.bytesMax) {
    throw new InvalidError(`item and value limits may not exceed ${CEILINGS.bytesMax} bytes`);
  }
  if (limits.queuePartitionKeyBytesMax > CEILINGS.partitionKeyBytesMax) {
    throw new InvalidError(`queuePartitionKeyBytesMax may not exceed ${CEILINGS.partitionKeyBytesMax}`);
  }
  if (limits.dictKeyBytesMax > limits.dictBytesMax || limits.dictValueBytesMax > limits.dictBytesMax) {
    throw new InvalidError("dictKeyBytesMax and dictValueBytesMax may not exceed dictBytesMax");
  }
}

// The defaults must satisfy their own relations; checked once at load.
assertLimitRelations(DEFAULT_LIMITS);
