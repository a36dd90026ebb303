// Waiting is in memory: blocked getters, reservers and putters queue on their partition in
// arrival order (by ticket). A put serves waiting getters in the same synchronous step
// (their removal goes into the same batch as the put); room made by a get, an ack, a clear
// or an expiry serves waiting putters in order; a lease that ends serves the getters and
// reservers waiting on its partition. No polling anywhere.

import type { ReservedItem } from "../proto/backend.ts";
import type { LongTimer } from "../proto/timer.ts";
import type { Receipt } from "./requests.ts";

export interface Waiter {
  /** arrival order: waiters of a partition are served by ticket */
  ticket: number;
  done: boolean;
  timer: LongTimer | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  reject(err: unknown): void;
}

/** What a reserve call asks of the lease of the items it gets. */
export interface LeaseTerms {
  leaseMs: number;
  /** 0: no limit */
  maxDeliveries: number;
  deadLetter: string | undefined;
}

export interface GetWaiter extends Waiter {
  n: number;
  /** Records the items taken for it in the batch that takes them (engine/requests.ts). */
  receipt: Receipt | undefined;
  /** Set for a reserver: it gets reservations, not values. */
  lease: LeaseTerms | undefined;
  resolve(values: Uint8Array[] | ReservedItem[]): void;
}

export interface PutWaiter extends Waiter {
  values: Uint8Array[];
  ttlMs: number;
  receipt: Receipt | undefined;
  resolve(): void;
}

export function settleWaiter(w: Waiter): void {
  w.done = true;
  w.timer?.clear();
  if (w.signal && w.onAbort) w.signal.removeEventListener("abort", w.onAbort);
}

/** Puts `w` in `list` at its ticket's place: a wait resumed from an earlier round goes back where it was. */
export function insertByTicket<W extends Waiter>(list: W[], w: W): void {
  let at = list.length;
  while (at > 0 && list[at - 1]!.ticket > w.ticket) at--;
  list.splice(at, 0, w);
}
