// Reservations on PostgreSQL (spec, "Reliable delivery: reservations (v2)"; docs/postgres.md,
// "Reservations"). A reserved item leaves the partition's runs like a got one (the head
// moves past it) but stays in the partition as one row of `larder_reservations`, with its
// value, until it is acked, got again, cleared, expired or dead-lettered:
//
//   larder_reservations (queue_id, pkey, seq) -> owner, ord, leased, deadline, deliveries,
//                                                max_deliveries, dead_letter, value
//
// - `owner` is the reserve call's number (random): a token names (partition, gen, seq,
//   owner), and an ack, release or extend holds only while the row's owner is the token's,
//   `leased` is true and `deadline` (store's clock) has not passed.
// - A row whose deadline has passed is visible again at its place: gets and reserves take
//   such rows (in seq order, all below head) before the head's items, so FIFO holds across
//   redeliveries. A lease that ends needs no write; only a dead-letter move does.
// - `ord` orders lease ends that fall on the same deadline (the reserve, extend or release
//   that set it, in call order per process), so that dead-letter moves are deterministic.
// - `larder_moved` (queue_id, origin) -> (pkey, gen, seq, deliveries): where an item that
//   was dead-lettered is now, one row per place it was before (moved again, its rows follow
//   it), so that an ack of an old reservation is refused while the item is still there.
//
// Every write of these rows holds the partition row's lock (FOR UPDATE), so reading them
// after taking that lock sees every change committed before.

import { randomInt } from "node:crypto";
import { InvalidError } from "../proto/errors.ts";

/** The default lease (spec): 30 s, or leaseMsMax if lower. */
export const LEASE_MS_DEFAULT = 30_000;
/** Delivery counts and maxDeliveries: what the embedded engine stores (u32). */
export const DELIVERIES_MAX = 2 ** 32 - 1;
/** Owners are random below this (a token's field is at most 16 digits). */
const OWNER_MAX = 2 ** 48;

/** SQL: a row whose lease, once ended, moves the item to its dead-letter partition (or drops it). */
export const DEAD_LETTER_DUE = "leased AND max_deliveries > 0 AND deliveries >= max_deliveries";

export const HELD_COLUMNS = "seq, owner, ord, leased, deadline, deliveries, max_deliveries, dead_letter, value";

export interface LeaseTerms {
  leaseMs: number;
  /** 0: no limit */
  maxDeliveries: number;
  deadLetter: Buffer | null;
}

/** What a token names: the item (partition, its incarnation `gen`, seq) and the reserve call. */
export interface Token {
  pkey: Buffer;
  gen: number;
  seq: number;
  owner: number;
}

export interface HeldRow {
  seq: number;
  owner: number;
  ord: number;
  /** false: released with a delay (or at once, deadline -Infinity) */
  leased: boolean;
  /** store's clock ms; -Infinity: visible */
  deadline: number;
  deliveries: number;
  maxDeliveries: number;
  deadLetter: Buffer | null;
  value: Buffer;
  /** the row is in the table (as read) */
  inDb: boolean;
  gone: boolean;
  dirty: boolean;
}

export interface HeldRowSql {
  seq: number;
  owner: number;
  ord: number;
  leased: boolean;
  deadline: number;
  deliveries: number;
  max_deliveries: number;
  dead_letter: Buffer | null;
  value: Buffer;
}

export function heldFromSql(row: HeldRowSql): HeldRow {
  return {
    seq: row.seq,
    owner: row.owner,
    ord: row.ord,
    leased: row.leased,
    deadline: row.deadline,
    deliveries: row.deliveries,
    maxDeliveries: row.max_deliveries,
    deadLetter: row.dead_letter,
    value: row.value,
    inDb: true,
    gone: false,
    dirty: false,
  };
}

/** The lease of a row ended and its deliveries are used up: it moves (or is dropped), it is never visible. */
export function deadLetterDue(r: HeldRow, now: number): boolean {
  return !r.gone && r.leased && r.maxDeliveries > 0 && r.deliveries >= r.maxDeliveries && r.deadline <= now;
}

/** Visible again at its place: its lease or delay ended, and it is not due to move. */
export function isVisible(r: HeldRow, now: number): boolean {
  return !r.gone && r.deadline <= now && !(r.leased && r.maxDeliveries > 0 && r.deliveries >= r.maxDeliveries);
}

/** The reservation `owner` still holds the row. */
export function holds(r: HeldRow | undefined, owner: number, now: number): r is HeldRow {
  return r !== undefined && !r.gone && r.owner === owner && r.leased && r.deadline > now;
}

export function newOwner(): number {
  return randomInt(1, OWNER_MAX);
}

let lastOrd = 0;

/** Strictly increasing in this process, and close to the real time in µs (across processes). */
export function nextOrd(): number {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  lastOrd = Math.max(lastOrd + 1, us);
  return lastOrd;
}

export function formatToken(pkey: Buffer, gen: number, seq: number, owner: number): string {
  return `${pkey.toString("hex")}.${gen}.${seq}.${owner}`;
}

/** A token of this backend, or InvalidError. */
export function parseToken(token: unknown, keyBytesMax: number): Token {
  const m = typeof token === "string" ? /^((?:[0-9a-f]{2})*)\.(\d{1,16})\.(\d{1,16})\.(\d{1,16})$/.exec(token) : null;
  if (!m || m[1]!.length > 2 * keyBytesMax) throw new InvalidError("a reservation token is not one this store issued");
  return { pkey: Buffer.from(m[1]!, "hex"), gen: Number(m[2]), seq: Number(m[3]), owner: Number(m[4]) };
}

/** Where an item was: the key of its larder_moved row once it is dead-lettered from there. */
export function originOf(pkey: Buffer, gen: number, seq: number): string {
  return `${pkey.toString("hex")}.${gen}.${seq}`;
}

function positiveInteger(name: string, value: unknown, max: number, min = 1): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** reserve's options, checked as the embedded engine checks them. */
export function leaseTerms(
  request: { leaseMs?: unknown; maxDeliveries?: unknown; deadLetterPartition?: unknown },
  leaseMsMax: number,
  partitionKey: (p: unknown) => Buffer,
): LeaseTerms {
  const leaseMs = request.leaseMs === undefined || request.leaseMs === null ? Math.min(LEASE_MS_DEFAULT, leaseMsMax) : positiveInteger("leaseMs", request.leaseMs, leaseMsMax);
  const maxDeliveries = request.maxDeliveries === undefined || request.maxDeliveries === null ? 0 : positiveInteger("maxDeliveries", request.maxDeliveries, DELIVERIES_MAX);
  let deadLetter: Buffer | null = null;
  if (request.deadLetterPartition !== undefined && request.deadLetterPartition !== null) {
    if (maxDeliveries === 0) throw new InvalidError("deadLetterPartition is only allowed with maxDeliveries");
    deadLetter = partitionKey(request.deadLetterPartition);
    if (deadLetter.length === 0) throw new InvalidError("deadLetterPartition must be a partition key of 1 to 64 bytes");
  }
  return { leaseMs, maxDeliveries, deadLetter };
}

export function checkDelay(delayMs: unknown, leaseMsMax: number): number {
  return positiveInteger("delayMs", delayMs ?? 0, leaseMsMax, 0);
}

export function checkExtend(ms: unknown, leaseMsMax: number): number {
  return positiveInteger("ms", ms, leaseMsMax);
}
