// The engine-wide budget for decoded queue runs (engine/core.ts RunCache): holders past the
// budget let go of their runs, least recently used first, and the one just kept stays.

import { describe, expect, it } from "vitest";
import { RunCache, type RunHolder } from "../../engine/core.ts";

class Holder implements RunHolder {
  dropped = 0;
  constructor(readonly name: string) {}
  dropCachedRun(): void {
    this.dropped++;
  }
}

describe("RunCache", () => {
  it("evicts the least recently used holders once the budget is passed", () => {
    const cache = new RunCache(100);
    const [a, b, c] = [new Holder("a"), new Holder("b"), new Holder("c")];
    cache.keep(a, 40);
    cache.keep(b, 40);
    cache.touch(a); // b is now the least recently used
    cache.keep(c, 40); // 120 > 100: b goes
    expect([a.dropped, b.dropped, c.dropped]).toEqual([0, 1, 0]);
    cache.keep(b, 40); // 120 again: a is the oldest now
    expect([a.dropped, b.dropped, c.dropped]).toEqual([1, 1, 0]);
  });

  it("re-keeping replaces a holder's size, forget releases it, and a single oversize holder stays", () => {
    const cache = new RunCache(100);
    const [a, b] = [new Holder("a"), new Holder("b")];
    cache.keep(a, 60);
    cache.keep(a, 30); // replaces 60: 30 in use
    cache.keep(b, 70); // 100: nobody goes
    expect([a.dropped, b.dropped]).toEqual([0, 0]);
    cache.forget(a); // 70 in use
    cache.keep(a, 30); // 100 again
    expect([a.dropped, b.dropped]).toEqual([0, 0]);
    const big = new Holder("big");
    cache.keep(big, 500); // everyone else goes; the one just kept stays
    expect([a.dropped, b.dropped, big.dropped]).toEqual([1, 1, 0]);
  });
});
