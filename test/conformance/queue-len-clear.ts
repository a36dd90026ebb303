// len and clear scopes (spec: "q.len(); q.len({ partition }); q.len({ total: true });
// q.clear(); q.clear({ partition }); q.clear({ all: true })"; "len({ partition, total:
// true }) and clear({ partition, all: true }) together are InvalidError"). Translates
// Modal's test_queue_peek_len_clear.

import { describe, expect, it } from "vitest";
import type { Queue } from "../../proto/api.ts";
import { InvalidError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

/** Modal's fixture: the default partition holds a, b, c and partition alt holds x, y. */
async function fixture(h: Harness): Promise<Queue<string>> {
  const q = await (await h.make()).queues.ephemeral<string>();
  await q.putMany(["a", "b", "c"]);
  await q.putMany(["x", "y"], { partition: "alt" });
  return q;
}

export function queueLenClearSuite(h: Harness): void {
  describe("queue: len and clear", () => {
    it("test_queue_peek_len_clear: len per partition and in total", async () => {
      const q = await fixture(h);
      expect(await q.len()).toBe(3);
      expect(await q.len({ partition: "alt" })).toBe(2);
      expect(await q.len({ total: true })).toBe(5);
      expect(await q.len({ total: false })).toBe(3);
      expect(await q.len({ partition: "never-used" })).toBe(0);
    });

    it("test_queue_peek_len_clear: clear() empties the default partition only, clear({ all }) everything", async () => {
      const q = await fixture(h);
      await q.clear();
      expect(await q.len()).toBe(0);
      expect(await collect(q.iterate({ partition: "alt" }))).toEqual(["x", "y"]);
      await q.clear({ all: true });
      expect(await q.len({ total: true })).toBe(0);
      expect(await collect(q.iterate({ partition: "alt" }))).toEqual([]);
    });

    it("clear({ partition }) empties that partition only", async () => {
      const q = await fixture(h);
      await q.clear({ partition: "alt" });
      expect(await q.len({ partition: "alt" })).toBe(0);
      expect(await q.len()).toBe(3);
      await q.clear({ partition: "never-used" });
      await q.clear({ all: false });
      expect(await q.len({ total: true })).toBe(0);
    });

    it("a cleared partition starts again empty and FIFO", async () => {
      const q = await fixture(h);
      await q.clear({ all: true });
      await q.putMany(["n1", "n2"]);
      expect(await q.getMany(10, { timeoutMs: 0 })).toEqual(["n1", "n2"]);
    });

    it("len tracks puts and gets", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      await q.putMany([1, 2, 3, 4]);
      await q.get();
      expect(await q.len()).toBe(3);
      await q.getMany(2);
      expect(await q.len()).toBe(1);
    });

    it("partition together with total, or with all, is InvalidError, and clears nothing", async () => {
      const q = await fixture(h);
      await expectError(q.len({ partition: "alt", total: true }), InvalidError);
      await expectError(q.clear({ partition: "alt", all: true }), InvalidError);
      expect(await q.len({ total: true })).toBe(5);
    });
  });
}
