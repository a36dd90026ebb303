// Got items in transit (docs/protocol.md, "Got items in transit"): a remote get that
// carries a request id and `ackable` is served as a reservation whose lease outlasts the
// record of its id, and the client acknowledges the items it received with `ack` on its
// next call on the queue. Until then an item taken for a client that never came back is
// not lost: its lease ends and it is back at its place.

import type { Engine } from "../engine/index.ts";
import { InvalidError, LeaseExpiredError, NotFoundError, RequestSizeError } from "../proto/errors.ts";
import { ACK_TOKENS_MAX } from "../proto/calls.ts";

/**
 * The lease outlasts the record of the get's request id: records are pruned once a second
 * (engine/requests.ts), so a retry that finds the record always finds the items still held
 * for it, never handed to another getter since.
 */
export const TRANSIT_LEASE_EXTRA_MS = 5_000;

/**
 * The lease of a get served in transit, or undefined when the engine cannot serve one: a
 * backend without request ids (nothing would answer a retry), or a leaseMsMax below it.
 */
export function transitLeaseMs(engine: Engine): number | undefined {
  if (engine.appliesRequestIds !== true || engine.requestIdRetentionMs === undefined) return undefined;
  const leaseMs = engine.requestIdRetentionMs + TRANSIT_LEASE_EXTRA_MS;
  return leaseMs <= engine.limits.leaseMsMax ? leaseMs : undefined;
}

/**
 * Runs `call` after acknowledging `tokens` on queue `id`: the ack takes the items away at
 * once, so the call sees them gone, and its write shares the call's commit. The answer
 * waits for both to be durable. An ack refused for what it names (the queue deleted, a
 * lease already ended, a token that does not parse) fails nothing else: there is nothing
 * to send again. One that failed otherwise (its write did not become durable) fails the
 * call, so that the client keeps the tokens and sends them again (review 2, T5): answered
 * as done, the items would come back when their lease ends, though the client has them.
 */
export async function withAcks<T>(engine: Engine, id: string, tokens: string[], call: () => Promise<T>): Promise<T> {
  if (tokens.length > ACK_TOKENS_MAX) throw new RequestSizeError(`at most ${ACK_TOKENS_MAX} tokens in ack, got ${tokens.length}`);
  const acked = engine.queueAck(id, tokens).then(
    () => undefined,
    (err: unknown) => (refusedFor(err) ? undefined : err),
  );
  let result: T;
  try {
    result = await call();
  } catch (err) {
    await acked;
    throw err;
  }
  const failure = await acked;
  if (failure !== undefined) throw failure;
  return result;
}

function refusedFor(err: unknown): boolean {
  return err instanceof NotFoundError || err instanceof LeaseExpiredError || err instanceof InvalidError;
}
