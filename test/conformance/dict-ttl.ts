// Entry expiry (spec: "Entries do not expire by default. fromName/ephemeral/create accept
// entryTtlMs ...: an entry not read or written for that long is gone; reads refresh it";
// "entryTtlMs not positive (NaN included)" is InvalidError). A ManualClock stands in for
// time, so nothing here sleeps.

import { describe, expect, it } from "vitest";
import { InvalidError, KeyError } from "../../proto/errors.ts";
import { ManualClock } from "../support/clock.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

const TTL = 1_000;
const DAY = 86_400_000;

async function cache(h: Harness) {
  const clock = new ManualClock();
  const store = await h.make({ clock });
  const d = await store.dicts.fromName<string, number>("cache", { createIfMissing: true, entryTtlMs: TTL });
  return { clock, store, d };
}

export function dictTtlSuite(h: Harness): void {
  describe("dict: entry expiry", () => {
    it("entries do not expire by default", async () => {
      const clock = new ManualClock();
      const d = await (await h.make({ clock })).dicts.ephemeral();
      await d.put("k", 1);
      clock.advance(365 * DAY);
      expect(await d.get("k")).toBe(1);
    });

    it("an entry not read or written for entryTtlMs is gone", async () => {
      const { clock, d } = await cache(h);
      await d.put("k", 1);
      clock.advance(TTL + 1);
      expect(await d.get("k")).toBeUndefined();
      expect(await d.contains("k")).toBe(false);
      expect(await d.len()).toBe(0);
      expect(await collect(d.keys())).toEqual([]);
      await expectError(d.pop("k"), KeyError);
    });

    it("an entry is still there just before its TTL", async () => {
      const { clock, d } = await cache(h);
      await d.put("k", 1);
      clock.advance(TTL - 1);
      expect(await d.len()).toBe(1);
      expect(await d.contains("k")).toBe(true);
    });

    it("reads refresh an entry", async () => {
      const { clock, d } = await cache(h);
      await d.put("k", 1);
      for (let i = 0; i < 5; i++) {
        clock.advance(TTL * 0.8);
        expect(await d.get("k")).toBe(1);
      }
      clock.advance(TTL + 1);
      expect(await d.get("k")).toBeUndefined();
    });

    it("writes refresh an entry", async () => {
      const { clock, d } = await cache(h);
      await d.put("k", 1);
      clock.advance(TTL * 0.8);
      await d.put("k", 2);
      clock.advance(TTL * 0.8);
      await d.update({ k: 3 });
      clock.advance(TTL * 0.8);
      expect(await d.get("k")).toBe(3);
    });

    it("len, keys and items leave out expired entries only", async () => {
      const { clock, d } = await cache(h);
      await d.update({ stale: 1, fresh: 2 });
      clock.advance(TTL * 0.6);
      expect(await d.get("fresh")).toBe(2);
      clock.advance(TTL * 0.6);
      expect(await d.len()).toBe(1);
      expect(await collect(d.items())).toEqual([["fresh", 2]]);
    });

    it("an expired key can be written again; skipIfExists sees it as missing", async () => {
      const { clock, d } = await cache(h);
      await d.put("lock", 1);
      clock.advance(TTL + 1);
      expect(await d.put("lock", 2, { skipIfExists: true })).toBe(true);
      expect(await d.get("lock")).toBe(2);
    });

    it("the TTL belongs to the dict: another handle, ephemeral and create take it too", async () => {
      const { clock, store } = await cache(h);
      const other = await store.dicts.fromName<string, number>("cache");
      await other.put("k", 1);
      const eph = await store.dicts.ephemeral({ entryTtlMs: TTL });
      await eph.put("k", 1);
      await store.dicts.create("made", { entryTtlMs: TTL });
      const made = await store.dicts.fromName("made");
      await made.put("k", 1);
      clock.advance(TTL + 1);
      expect(await other.contains("k")).toBe(false);
      expect(await eph.contains("k")).toBe(false);
      expect(await made.contains("k")).toBe(false);
    });

    it("a TTL changed to Infinity: an old entry stops expiring once read, new entries never expire", async () => {
      const { clock, store, d } = await cache(h);
      await d.put("old", 1);
      await d.put("unread", 2);
      const never = await store.dicts.fromName<string, number>("cache", { entryTtlMs: Infinity });
      clock.advance(TTL / 2);
      expect(await never.get("old")).toBe(1);
      await never.put("new", 3);
      clock.advance(365 * DAY);
      expect(await never.get("old")).toBe(1);
      expect(await never.get("new")).toBe(3);
      // Not read since the change: it kept the deadline it was written with.
      expect(await never.contains("unread")).toBe(false);
    });

    it("a TTL made shorter applies to an old entry from its next read", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const d = await store.dicts.fromName<string, number>("c", { createIfMissing: true, entryTtlMs: DAY });
      await d.put("k", 1);
      const short = await store.dicts.fromName<string, number>("c", { entryTtlMs: TTL });
      expect(await short.get("k")).toBe(1);
      clock.advance(TTL + 1);
      expect(await short.get("k")).toBeUndefined();
    });

    it("a finite entryTtlMs too large to reach (1e20, Number.MAX_VALUE) is accepted and means never", async () => {
      const clock = new ManualClock();
      const store = await h.make({ clock });
      const a = await store.dicts.fromName<string, number>("a", { createIfMissing: true, entryTtlMs: 1e20 });
      const b = await store.dicts.ephemeral({ entryTtlMs: Number.MAX_VALUE });
      await a.put("k", 1);
      await b.update({ x: 1, y: 2 });
      expect(await b.get("x")).toBe(1);
      clock.advance(10 * 365 * DAY);
      expect(await a.get("k")).toBe(1);
      expect(await b.len()).toBe(2);
      expect(await collect(b.items())).toEqual([["x", 1], ["y", 2]]);
    });

    it("entryTtlMs that is not a positive number is InvalidError", async () => {
      const store = await h.make();
      for (const entryTtlMs of [0, -1, NaN, -Infinity]) {
        await expectError(store.dicts.fromName("c", { createIfMissing: true, entryTtlMs }), InvalidError);
        await expectError(store.dicts.ephemeral({ entryTtlMs }), InvalidError);
        await expectError(store.dicts.create("c", { entryTtlMs }), InvalidError);
      }
      expect(await store.dicts.list()).toEqual([]);
    });
  });
}
