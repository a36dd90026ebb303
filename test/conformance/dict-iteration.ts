// Iteration: keys(), values(), items() (spec: "Iteration over a large dict streams in
// pages"). Pages hold 512 entries (store/store.ts), so the sizes below sit on and across
// page boundaries; a page may also stop at a byte budget, which big values exercise.

import { describe, expect, it } from "vitest";
import type { Dict } from "../../proto/api.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

const PAGE = 512;

async function fill(d: Dict<number, string>, count: number): Promise<void> {
  const order = Array.from({ length: count }, (_, i) => (i * 65_537 + 3) % count);
  for (let start = 0; start < count; start += 2_000) {
    await d.update(order.slice(start, start + 2_000).map((i): [number, string] => [i, `v${i}`]));
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export function dictIterationSuite(h: Harness): void {
  describe("dict: iteration", () => {
    it("an empty dict yields nothing", async () => {
      const d = await (await h.make()).dicts.ephemeral();
      expect(await collect(d.keys())).toEqual([]);
      expect(await collect(d.values())).toEqual([]);
      expect(await collect(d.items())).toEqual([]);
    });

    it("keys, values and items agree, in key order", async () => {
      const d = await (await h.make()).dicts.ephemeral<string, number>();
      await d.update({ c: 3, a: 1, b: 2 });
      expect(await collect(d.keys())).toEqual(["a", "b", "c"]);
      expect(await collect(d.values())).toEqual([1, 2, 3]);
      expect(await collect(d.items())).toEqual([
        ["a", 1],
        ["b", 2],
        ["c", 3],
      ]);
    });

    for (const count of [PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, 2 * PAGE + 7]) {
      it(`${count} entries: every entry exactly once, in order, across pages`, async () => {
        const d = await (await h.make()).dicts.ephemeral<number, string>();
        await fill(d, count);
        expect(await d.len()).toBe(count);
        expect(await collect(d.keys())).toEqual(range(count));
        expect(await collect(d.values())).toEqual(range(count).map((i) => `v${i}`));
        const items = await collect(d.items());
        expect(items.length).toBe(count);
        expect(items.every(([k, v], i) => k === i && v === `v${i}`)).toBe(true);
      });
    }

    it("a large dict (20,000 entries) iterates completely", async () => {
      const d = await (await h.make()).dicts.ephemeral<number, string>();
      await fill(d, 20_000);
      let expected = 0;
      for await (const key of d.keys()) {
        if (key !== expected) expect(key).toBe(expected);
        expected++;
      }
      expect(expected).toBe(20_000);
    });

    it("big values (24 of 200 KB) all come back", async () => {
      const d = await (await h.make()).dicts.ephemeral<number, Uint8Array>();
      for (let i = 0; i < 24; i++) await d.put(i, new Uint8Array(200_000).fill(i));
      const items = await collect(d.items());
      expect(items.map(([k]) => k)).toEqual(range(24));
      expect(items.every(([k, v]) => v.length === 200_000 && v[0] === k && v[199_999] === k)).toBe(true);
    });

    it("stopping early is fine, and a new iteration starts from the first key", async () => {
      const d = await (await h.make()).dicts.ephemeral<number, string>();
      await fill(d, PAGE + 10);
      const firstFew: number[] = [];
      for await (const key of d.keys()) {
        firstFew.push(key);
        if (firstFew.length === 3) break;
      }
      expect(firstFew).toEqual([0, 1, 2]);
      expect((await collect(d.keys())).length).toBe(PAGE + 10);
      await d.put(-1, "new");
      expect((await collect(d.keys()))[0]).toBe(-1);
    });

    it("two iterations can run interleaved", async () => {
      const d = await (await h.make()).dicts.ephemeral<number, string>();
      await fill(d, PAGE + 5);
      const a = d.keys();
      const b = d.values();
      const pairs: Array<[number, string]> = [];
      for (;;) {
        const [ka, vb] = await Promise.all([a.next(), b.next()]);
        if (ka.done || vb.done) {
          expect(ka.done && vb.done).toBe(true);
          break;
        }
        pairs.push([ka.value, vb.value]);
      }
      expect(pairs.length).toBe(PAGE + 5);
      expect(pairs.every(([k, v]) => v === `v${k}`)).toBe(true);
    });
  });
}
