// setLongTimeout: delays past Node's 2^31 - 1 ms timer limit. Waiting 25 days for real is
// not possible in a test, so vitest's fake clock stands in for time here; like Node, it
// turns a plain setTimeout past the limit into 1 ms, which the first test shows.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setLongTimeout } from "../../proto/timer.ts";

const LIMIT = 2 ** 31 - 1;

describe("setLongTimeout", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("the fake clock overflows a plain setTimeout past the limit, like Node", () => {
    const fn = vi.fn();
    setTimeout(fn, LIMIT + 1);
    vi.advanceTimersByTime(10);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  for (const ms of [0, 5, LIMIT, LIMIT + 1, 3 * LIMIT + 7, 1e12]) {
    it(`fires once, after exactly ${ms} ms`, () => {
      const fn = vi.fn();
      setLongTimeout(fn, ms);
      if (ms > 0) {
        vi.advanceTimersByTime(ms - 1);
        expect(fn).not.toHaveBeenCalled();
      }
      vi.advanceTimersByTime(1);
      expect(fn).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(5 * LIMIT);
      expect(fn).toHaveBeenCalledTimes(1);
    });
  }

  it("clear stops it, also after some of its chained timers have run", () => {
    const fn = vi.fn();
    const timer = setLongTimeout(fn, 3 * LIMIT);
    vi.advanceTimersByTime(LIMIT + 10);
    timer.clear();
    vi.advanceTimersByTime(5 * LIMIT);
    expect(fn).not.toHaveBeenCalled();
  });
});
