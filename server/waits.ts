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
import { WAIT_ID_LENGTH_MAX } from "../proto/wire.ts";
/** How long an id cancelled before its wait arrived is remembered. */
const EARLY_CANCEL_MS = 60_000;
/** At most this many such ids are remembered; past it the oldest are forgotten. */
const EARLY_CANCELS_MAX = 10_000;
/**
 * How long after a round of a wait ends its ticket (its place among the waiters) is kept
 * for the next round: the client sends that at once. At most TICKETS_RESTING_MAX are kept
 * between rounds; tickets of rounds in progress are bounded by the requests in flight.
 */
const TICKET_KEEP_MS = 10_000;
const TICKETS_RESTING_MAX = 100_000;
const WAIT_ID = /^[\x21-\x7e]+$/;

/** A wait id: 1 to 64 visible ASCII characters (so 64 bytes, which the cancel route's body bound counts on). */
export function checkWaitId(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > WAIT_ID_LENGTH_MAX || !WAIT_ID.test(value)) {
    throw new InvalidError(`waitId must be 1 to ${WAIT_ID_LENGTH_MAX} visible ASCII characters`);
  }
  return value;
}

export class WaitRegistry {
  /** Rounds in progress that can be cancelled, by wait id. */
  private readonly waiting = new Map<string, AbortController>();
  /** Ids cancelled before their wait arrived, with when (insertion order is time order). */
  private readonly early = new Map<string, number>();
  /** Tickets of rounds in progress. */
  private readonly active = new Map<string, number>();
  /** Tickets between rounds, with when the last round ended (insertion order is time order). */
  private readonly resting = new Map<string, { ticket: number; at: number }>();

  constructor(
    private readonly newTicket: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The ticket of the wait with this id: the one its first round got, or a new one. */
  ticket(id: string): number {
    const current = this.active.get(id);
    if (current !== undefined) return current;
    const rested = this.resting.get(id);
    if (rested !== undefined) this.resting.delete(id);
    const ticket = rested?.ticket ?? this.newTicket();
    this.active.set(id, ticket);
    return ticket;
  }

  /** Registers a round in progress; an id cancelled just before aborts it at once. */
  register(id: string, controller: AbortController): void {
    this.prune();
    if (this.early.delete(id)) {
      controller.abort(cancelled());
      return;
    }
    this.waiting.set(id, controller);
  }

  /** The round is over (however it ended); its ticket is kept a while for the next round. */
  end(id: string, controller: AbortController | undefined): void {
    if (controller !== undefined && this.waiting.get(id) === controller) this.waiting.delete(id);
    const ticket = this.active.get(id);
    if (ticket === undefined) return;
    this.active.delete(id);
    this.resting.set(id, { ticket, at: this.now() });
    while (this.resting.size > TICKETS_RESTING_MAX) this.resting.delete(this.resting.keys().next().value!);
  }

  cancel(ids: readonly string[]): void {
    this.prune();
    for (const id of ids) {
      this.resting.delete(id);
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

  /** Forgets what is too old; both maps are in time order, so this stops at the first young entry. */
  private prune(): void {
    const now = this.now();
    for (const [id, at] of this.early) {
      if (at > now - EARLY_CANCEL_MS) break;
      this.early.delete(id);
    }
    for (const [id, rested] of this.resting) {
      if (rested.at > now - TICKET_KEEP_MS) break;
      this.resting.delete(id);
    }
  }
}

function cancelled(): ClosedError {
  return new ClosedError("the wait was cancelled by its client");
}
