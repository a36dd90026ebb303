// Waits a client can cancel by id (docs/protocol.md, "Cancelling a wait").
//
// A client that stops waiting (its handle or store closed) must not simply drop the
// connection of a long-poll: the server may already have handed the wait an item, whose
// answer would then be lost with the connection. Instead the client names the wait in
// `POST /v1/waits/cancel`: a wait not served yet ends at once with CLOSED, and a wait
// already served answers with its items as usual. An id cancelled before its wait arrives
// is remembered for a while, so that the wait ends as soon as it does.
//
// The id also keeps a wait's place in line across long-poll rounds: a wait longer than
// longPollMaxMs is several requests, and without its first round's ticket each new round
// would join the back of the waiters, behind getters that arrived after it.

import { ClosedError, InvalidError } from "../proto/errors.ts";

/** Longest wait id accepted. */
export const WAIT_ID_LENGTH_MAX = 64;
/** Most ids in one cancel request. */
export const WAIT_IDS_MAX = 1024;
/** How long an id cancelled before its wait arrived is remembered. */
const EARLY_CANCEL_MS = 60_000;
/** At most this many such ids are remembered; past it the oldest are forgotten. */
const EARLY_CANCELS_MAX = 10_000;
/**
 * How long after a round of a wait ends its ticket (its place among the waiters) is kept
 * for the next round: the client sends that at once. At most TICKETS_MAX are kept.
 */
const TICKET_KEEP_MS = 10_000;
const TICKETS_MAX = 100_000;

export function checkWaitId(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > WAIT_ID_LENGTH_MAX) {
    throw new InvalidError(`waitId must be a string of 1 to ${WAIT_ID_LENGTH_MAX} characters`);
  }
  return value;
}

export class WaitRegistry {
  private readonly waiting = new Map<string, AbortController>();
  /** Ids cancelled before their wait arrived, with when (insertion order is time order). */
  private readonly early = new Map<string, number>();
  /** Each wait's ticket, and when its last round started or ended (insertion order is time order). */
  private readonly tickets = new Map<string, { ticket: number; at: number }>();

  constructor(
    private readonly newTicket: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The ticket of the wait with this id: the one its first round got, or a new one. */
  ticket(id: string): number {
    const kept = this.tickets.get(id);
    const ticket = kept?.ticket ?? this.newTicket();
    this.keepTicket(id, ticket);
    return ticket;
  }

  private keepTicket(id: string, ticket: number): void {
    this.tickets.delete(id);
    this.tickets.set(id, { ticket, at: this.now() });
    while (this.tickets.size > TICKETS_MAX) this.tickets.delete(this.tickets.keys().next().value!);
  }

  /** Registers a wait in progress; an id cancelled just before aborts it at once. */
  register(id: string, controller: AbortController): void {
    this.prune();
    if (this.early.delete(id)) {
      controller.abort(cancelled());
      return;
    }
    this.waiting.set(id, controller);
  }

  /** The round is over; its ticket is kept a while for the next round. */
  unregister(id: string, controller: AbortController): void {
    if (this.waiting.get(id) === controller) this.waiting.delete(id);
    const kept = this.tickets.get(id);
    if (kept) this.keepTicket(id, kept.ticket);
  }

  cancel(ids: readonly string[]): void {
    this.prune();
    for (const id of ids) {
      this.tickets.delete(id);
      const controller = this.waiting.get(id);
      if (controller) {
        this.waiting.delete(id);
        controller.abort(cancelled());
      } else {
        this.early.delete(id);
        this.early.set(id, this.now());
      }
    }
    while (this.early.size > EARLY_CANCELS_MAX) this.early.delete(this.early.keys().next().value!);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, at] of this.early) {
      if (at > now - EARLY_CANCEL_MS) break;
      this.early.delete(id);
    }
    for (const [id, kept] of this.tickets) {
      if (kept.at > now - TICKET_KEEP_MS) break;
      // A wait in progress refreshes its entry at each round's start and end only.
      if (this.waiting.has(id)) continue;
      this.tickets.delete(id);
    }
  }
}

function cancelled(): ClosedError {
  return new ClosedError("the wait was cancelled by its client");
}
