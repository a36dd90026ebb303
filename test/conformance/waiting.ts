// Small tools for tests of waiting. Timing assertions in the suite are semantic only (a
// 300 ms timeout takes at least about 300 ms); upper bounds are generous because the
// machines that run the suite may have two shared cores.

/** Lower bounds allow this much for timer granularity. */
export const TIMER_SLACK_MS = 15;
/** Upper bound for "promptly" and "at once": far below every timeout the tests wait for. */
export const PROMPT_MS = 1_500;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Marks a promise as handled now (its rejection is awaited later) and returns it. */
export function background<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** True when `promise` has neither resolved nor rejected after `ms`. */
export async function stillPending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(
    () => false,
    () => false,
  );
  return Promise.race([settled, sleep(ms).then(() => true)]);
}

/** Runs `action` and measures it; a rejection is returned, not thrown. */
export async function timed<T>(action: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = performance.now();
  try {
    const value = await action();
    return { ms: performance.now() - start, value };
  } catch (error) {
    return { ms: performance.now() - start, error };
  }
}

/** Every item of an async iterable, in order. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** `promise`, or a plain Error (not a LarderError) if it is still pending after `ms`. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  background(promise);
  return Promise.race([
    promise,
    sleep(ms).then(() => {
      throw new Error(`still pending after ${ms} ms`);
    }),
  ]);
}
