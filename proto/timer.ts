// Node's setTimeout takes at most 2^31 - 1 ms (about 24.8 days): a longer delay is
// replaced by 1 ms, with only a warning. A wait of `timeoutMs: 1e10` must really wait,
// so longer delays are split into chained timers.

const TIMER_MAX_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/**
 * Calls `fn` once after `ms` (any non-negative ms, however large) unless cleared first.
 * An `unref` timer does not keep the process alive.
 */
export function setLongTimeout(fn: () => void, ms: number, unref = false): LongTimer {
  let handle: NodeJS.Timeout;
  const arm = (left: number): void => {
    const step = Math.min(left, TIMER_MAX_MS);
    handle = setTimeout(() => (left > step ? arm(left - step) : fn()), step);
    if (unref) handle.unref();
  };
  arm(ms);
  return { clear: () => clearTimeout(handle) };
}
