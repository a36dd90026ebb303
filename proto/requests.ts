// Request ids (docs/protocol.md, "Request ids"): what an id may be and how long a backend
// keeps the record of an applied one. Shared by the embedded engine (engine/requests.ts)
// and the PostgreSQL backend (postgres/requests.ts), which apply ids each their own way.

import { InvalidError } from "./errors.ts";

/** Longest request id, and its characters (they are written into keys as they are). */
export const REQUEST_ID_LENGTH_MAX = 64;
const REQUEST_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * How long an applied id is kept by default: twelve times the client's default retry
 * budget (retryTimeoutMs, 5 s), so a retry after a long-poll of up to 30 s, a restart and
 * the whole budget still finds it.
 */
export const REQUEST_ID_RETENTION_MS_DEFAULT = 60_000;

export function checkRequestId(id: unknown): string {
  if (typeof id !== "string" || !REQUEST_ID_PATTERN.test(id)) {
    throw new InvalidError(`requestId must be 1 to ${REQUEST_ID_LENGTH_MAX} characters of [A-Za-z0-9_-]`);
  }
  return id;
}

/** The `requestIdRetentionMs` option: undefined for the default, else a positive integer. */
export function checkRetention(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new InvalidError(`requestIdRetentionMs must be a positive integer (ms), got ${String(value)}`);
  }
  return value;
}

/** A retry goes no later than the server's retention less a quarter of it, or less this: the way there. */
const RETENTION_MARGIN_MS_MAX = 5_000;

/**
 * How long after a call started a client may still send a retry of it (client/retries.ts):
 * the server's retention less a margin for the way there.
 */
export function retryWindowMs(retentionMs: number): number {
  return retentionMs - Math.min(retentionMs / 4, RETENTION_MARGIN_MS_MAX);
}

/**
 * The longest long-poll round whose retry still reaches the server within retryWindowMs:
 * the window less as much again, for the retries of a round broken at its end (connection
 * set-up, a restart, backoff). 50 s for the default retention of 60 s.
 */
export function longPollAllowedMs(retentionMs: number): number {
  return retryWindowMs(retentionMs) - Math.min(retentionMs / 4, RETENTION_MARGIN_MS_MAX);
}
