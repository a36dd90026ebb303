// How a call's request failed, as the transport's retry rule needs to know it: the server
// answered 503 UNAVAILABLE (it did nothing), or the connection failed before the request
// left or after it may have been run (client/transport.ts explains the rule).

import { ClosedError, LarderError, UnavailableError } from "../proto/errors.ts";

/** Connection errors that mean the request was never sent. */
export const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** The server said 503 UNAVAILABLE: it was closing and did nothing, so any call may be sent again. */
export class ServerUnavailable extends UnavailableError {}

/** The connection failed; `sent` tells whether the server may have run the call. */
export class ConnectionFailure extends Error {
  constructor(readonly sent: boolean, cause: unknown, private readonly answerTimedOut = false) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }

  /** No answer within the answer timeout: the server is stuck, and a retry would wait as long again. */
  get timedOut(): boolean {
    return this.answerTimedOut || (this.cause as { code?: unknown } | undefined)?.code === "UND_ERR_HEADERS_TIMEOUT";
  }
}

export function abortReason(signal: AbortSignal): LarderError {
  const reason: unknown = signal.reason;
  return reason instanceof LarderError ? reason : new ClosedError("the call was cancelled", { cause: reason });
}
