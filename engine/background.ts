// What the background passes (the ttl sweeper, engine/expiry.ts; garbage collection,
// engine/gc.ts) do with an error. They run on timers, with no caller to answer: an error
// that means the store is closing or stopped ends the pass quietly (the next open resumes
// the work from what is on disk); any other error is a bug or a failing disk, and is
// logged, never swallowed.

import { ClosedError } from "../proto/errors.ts";
import { StorageStoppedError } from "./commit.ts";

/** LevelDB's codes for a call on a database or iterator that was closed under it. */
const CLOSED_CODES: ReadonlySet<unknown> = new Set(["LEVEL_DATABASE_NOT_OPEN", "LEVEL_ITERATOR_NOT_OPEN"]);

/** True for the errors a background pass meets when the store closes or stops under it. */
export function isStopping(err: unknown): boolean {
  if (err instanceof ClosedError || err instanceof StorageStoppedError) return true;
  return CLOSED_CODES.has((err as { code?: unknown } | null)?.code);
}

/** Ends a background pass that failed: quietly when the store is stopping, else logged through `log`. */
export function backgroundFailed(task: string, err: unknown, log: (message: string, error: unknown) => void): void {
  if (isStopping(err)) return;
  log(`${task} failed (the work stays on disk and is taken up again later)`, err);
}
