// Reads refresh a TTL entry by writing it again, at most once per granularity step. A read
// must not write when there is nothing to refresh: an entry whose deadline is already the
// one a write would give it (no TTL, or a TTL too large to reach, which means never). A
// regression made every get of such a dict a write (and an fsync).

import { afterEach, describe, expect, it } from "vitest";
import { DictState } from "../../engine/dicts.ts";
import { open } from "../../index.ts";
import type { Store } from "../../proto/api.ts";
import { ManualClock } from "../support/clock.ts";

const proto = DictState.prototype as unknown as { write: (...args: unknown[]) => unknown };
const original = proto.write;
let writes = 0;
let store: Store | undefined;

afterEach(async () => {
  proto.write = original;
  await store?.close();
  store = undefined;
});

function countWrites(): void {
  writes = 0;
  proto.write = function (this: unknown, ...args: unknown[]) {
    writes++;
    return original.apply(this, args);
  };
}

describe("reads of a dict with a TTL", () => {
  it("do not write when the TTL cannot be reached, or there is none", async () => {
    store = await open({ memory: true });
    for (const entryTtlMs of [undefined, Number.MAX_SAFE_INTEGER, 1e300, Infinity]) {
      const d = await store.dicts.ephemeral(entryTtlMs === undefined ? {} : { entryTtlMs });
      await d.put("k", 1);
      countWrites();
      for (let i = 0; i < 100; i++) expect(await d.get("k")).toBe(1);
      expect(writes).toBe(0);
      proto.write = original;
    }
  });

  it("write once per granularity step for a reachable TTL", async () => {
    const clock = new ManualClock();
    store = await open({ memory: true, clock });
    const d = await store.dicts.ephemeral({ entryTtlMs: 60_000 });
    await d.put("k", 1);
    countWrites();
    for (let i = 0; i < 100; i++) await d.get("k");
    expect(writes).toBe(0);
    clock.advance(1_000);
    for (let i = 0; i < 100; i++) await d.get("k");
    expect(writes).toBe(1);
  });
});
