// The retry rule every transport of the client shares (HTTP, client/transport.ts, and the
// framed transport, client/wire-transport.ts): a call's request id, its wait id, and when
// a failed attempt is sent again (docs/protocol.md, "Retries").
//
// When a call fails at the connection level, whether to send it again depends on whether
// the server may have run it:
// - the request never left (connection refused, host unreachable, connect timeout) or the
//   server answered 503 UNAVAILABLE (it was closing and did nothing): every call is retried;
// - the connection broke after the request may have been sent (reset, closed mid-answer):
//   calls whose row is retry-safe (proto/calls.ts), and every call with a request id, are
//   sent again (with `retry: true`); any other call fails at once with UnavailableError
//   saying it may or may not have taken effect;
// - no answer within the answer timeout: UnavailableError, not retried.
// Retries back off from 50 ms to 1 s and stop after retryTimeoutMs (counted from the first
// failure of the call) with UnavailableError.

import { randomBytes } from "node:crypto";
import { InternalError, LarderError, UnavailableError } from "../proto/errors.ts";
import { loneSurrogate } from "../proto/validate.ts";
import { retryWindowMs } from "../proto/requests.ts";
import { carriesRequestId, isRetrySafe, mayWait, type RouteName } from "../proto/calls.ts";
import { packEnvelope } from "../proto/wire.ts";
import { ConnectionFailure, ServerUnavailable, abortReason } from "./failures.ts";
import type { Reply } from "./reply-handler.ts";

export interface RetryOptions {
  readonly retryTimeoutMs: number;
  readonly answerTimeoutMs: number;
  /** Calls that change state carry a request id, and are retried like any other (docs/protocol.md, "Request ids"). */
  readonly requestIds: boolean;
}

/** What the retry loop needs of a transport. */
export interface Attempts {
  /** One attempt. Fails with ServerUnavailable, a ConnectionFailure, or the call's own (final) error. */
  attemptCall(route: RouteName, body: Buffer, waits: boolean, signal: AbortSignal | undefined, waitId: string | undefined): Promise<Reply>;
  /** Throws ClosedError once the transport is closed. */
  ensureOpen(): void;
  /** The server's requestIdRetentionMs (Infinity when it keeps no records), learnt once, before the first retry that needs it. */
  requestIdRetentionMs(): Promise<number>;
}

const RETRY_DELAY_FIRST_MS = 50;
const RETRY_DELAY_MAX_MS = 1_000;

/** Wait ids: a random prefix per process, then a counter; unique across clients in practice. */
const WAIT_ID_PREFIX = randomBytes(9).toString("base64url");
let waitIds = 0;

/** A new wait id (12 random characters and a counter: 0.05 us, where randomBytes per id took 1.8). */
export function newWaitId(): string {
  return `${WAIT_ID_PREFIX}${(++waitIds).toString(36)}`;
}

/**
 * Request ids, made the same way with a longer prefix (16 random characters, 96 bits):
 * an id must never be given twice within the server's retention window, by any client.
 */
const REQUEST_ID_PREFIX = randomBytes(12).toString("base64url");
let requestIds = 0;

export function newRequestId(): string {
  return `${REQUEST_ID_PREFIX}${(++requestIds).toString(36)}`;
}

/**
 * MessagePack writes strings as UTF-8, where a lone surrogate becomes U+FFFD: sent as is, a
 * partition "\ud800" would silently reach the server as the partition "\ufffd". The
 * embedded store refuses such strings, so the client does too, before anything is sent.
 */
function checkWellFormed(envelope: Record<string, unknown>): void {
  for (const field in envelope) {
    const value = envelope[field];
    if (typeof value === "string" && !value.isWellFormed()) throw loneSurrogate(field === "partition" ? "Queue partition key" : field);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Sends one call and returns its reply map, retrying connection failures where that is safe. */
export async function callWithRetries(
  transport: Attempts,
  options: RetryOptions,
  route: RouteName,
  envelope: Record<string, unknown>,
  signal: AbortSignal | undefined,
  retryUntil: number,
): Promise<Reply> {
  checkWellFormed(envelope);
  // A call that changes state gets its id here, once: every retry below sends the same one.
  if (options.requestIds && carriesRequestId(route)) envelope.requestId = newRequestId();
  const retrySafe = isRetrySafe(route, envelope);
  const waits = mayWait(route, envelope);
  // Only a waiting call needs to be cancellable in flight; the others answer at once, and
  // an abort listener per request costs more than the rest of the call.
  const requestSignal = waits ? signal : undefined;
  // A cancellable wait has an id, so that it can be cancelled at the server rather than
  // by dropping its connection: the caller's (kept across the rounds of one wait, which
  // also keeps its place in line), or a new one.
  const waitId = requestSignal === undefined ? undefined : typeof envelope.waitId === "string" ? envelope.waitId : newWaitId();
  let sent = waitId === undefined ? envelope : { ...envelope, waitId };
  let body = packEnvelope(sent);
  const started = Date.now();
  let deadline: number | undefined;
  let firstFailure: number | undefined;
  let delay = RETRY_DELAY_FIRST_MS;
  for (;;) {
    transport.ensureOpen();
    if (signal?.aborted) throw abortReason(signal);
    try {
      if (sent.retry === true) await checkRetention(transport, route, started);
      return await transport.attemptCall(route, body, waits, requestSignal, waitId);
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      transport.ensureOpen();
      const mayRetry = err instanceof ServerUnavailable || (err instanceof ConnectionFailure && !err.timedOut && (!err.sent || retrySafe));
      if (!mayRetry) throw finalError(options, route, err);
      // A call with a time limit (a get or put with timeoutMs) retries no longer than that:
      // its caller asked to hear within it. Except once it may have taken effect: a call
      // with a request id then retries for the whole budget, to hear its outcome (a get
      // that took items gets them), rather than leave it unknown.
      firstFailure ??= Date.now();
      deadline ??= Math.min(firstFailure + options.retryTimeoutMs, retryUntil);
      if (err instanceof ConnectionFailure && err.sent && sent.requestId !== undefined) {
        deadline = Math.max(deadline, firstFailure + options.retryTimeoutMs);
      }
      if (Date.now() + delay > deadline) {
        const within = deadline === retryUntil ? "the call's own wait (timeoutMs)" : `${options.retryTimeoutMs} ms (retryTimeoutMs)`;
        throw new UnavailableError(`could not reach the Larder server for ${route} within ${within}: ${(err as Error).message}`, { cause: err });
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, RETRY_DELAY_MAX_MS);
      // A retry says so: the server then looks its id up among the calls it has applied.
      // (Only after a request that may have reached the server: after a refused connection
      // or a 503 nothing was done, and a backend without ids can serve the call as new.)
      if (sent.requestId !== undefined && sent.retry !== true && err instanceof ConnectionFailure && err.sent) {
        sent = { ...sent, retry: true };
        body = packEnvelope(sent);
      }
      // A wait sent again waits only what is left of it, not its whole time once more.
      if (waits) body = packEnvelope(waitLeft(sent, Date.now() - started));
    }
  }
}

/**
 * A retry must reach the server while it still keeps the record of the first attempt,
 * which it applied at the earliest when the call `started`: a retry later than the
 * server's retention (less a margin for the way there) could run the call again. So the
 * retention is asked for once, and past it the call fails as one that may or may not have
 * taken effect. A failure to learn it is a round that did nothing (retried).
 */
async function checkRetention(transport: Attempts, route: RouteName, started: number): Promise<void> {
  const retention = await transport.requestIdRetentionMs();
  if (Date.now() <= started + retryWindowMs(retention)) return;
  throw new UnavailableError(
    `${route} could not be sent again within the server's requestIdRetentionMs (${retention} ms) of its first attempt; ` +
      `the call may or may not have taken effect`,
  );
}

function finalError(options: RetryOptions, route: RouteName, err: unknown): LarderError {
  if (err instanceof LarderError) return err;
  if (err instanceof ConnectionFailure && err.timedOut) {
    return new UnavailableError(
      `the Larder server did not answer ${route} within ${options.answerTimeoutMs} ms (answerTimeoutMs); the call may or may not have taken effect`,
      { cause: err.cause },
    );
  }
  if (err instanceof ConnectionFailure) {
    return new UnavailableError(
      `the connection to the Larder server failed during ${route}; the call may or may not have taken effect ` +
        `and is not sent again because repeating it could duplicate or lose data: ${err.message}`,
      { cause: err.cause },
    );
  }
  return new InternalError(`${route} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** The envelope of a waiting call with its wait (`timeoutMs`, `pollTimeoutMs`) shortened by `elapsedMs`. */
function waitLeft(envelope: Record<string, unknown>, elapsedMs: number): Record<string, unknown> {
  const out = { ...envelope };
  for (const field of ["timeoutMs", "pollTimeoutMs"]) {
    const ms = out[field];
    if (typeof ms === "number" && Number.isFinite(ms) && ms > 0) out[field] = Math.max(0, ms - elapsedMs);
  }
  return out;
}
