// Queue limits and partition keys (spec: "An item over queueItemBytesMax encoded bytes is
// RequestSizeError. Creating a partition beyond queuePartitionsMax is
// ResourceExhaustedError"; "A partition key is 1 to 64 UTF-8 bytes; "" and longer keys are
// InvalidError").

import { describe, expect, it } from "vitest";
import type { Queue } from "../../proto/api.ts";
import { InvalidError, RequestSizeError, ResourceExhaustedError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

const VALID_PARTITIONS = ["p", "a".repeat(64), "é".repeat(32), "😀".repeat(16), "with space/and:punctuation"];
// The last two have no UTF-8 form (lone surrogates); sent as UTF-8 they would become "\ufffd".
const INVALID_PARTITIONS = ["", "a".repeat(65), "é".repeat(33), "😀".repeat(17), `${"a".repeat(63)}é`, "\ud800", "a\udc00b"];

/** Every queue call that takes a partition, with that partition. */
function callsWith(q: Queue<number>, partition: string): Array<() => Promise<unknown>> {
  return [
    () => q.put(1, { partition }),
    () => q.putMany([1, 2], { partition }),
    () => q.get({ partition, timeoutMs: 0 }),
    () => q.getMany(2, { partition, timeoutMs: 0 }),
    () => q.len({ partition }),
    () => q.clear({ partition }),
    () => collect(q.iterate({ partition })),
  ];
}

export function queueLimitsSuite(h: Harness): void {
  describe("queue: limits and partition keys", () => {
    it("queueItemBytesMax: an item over it is RequestSizeError, in put and putMany, and nothing is written", async () => {
      const q = await (await h.make({ limits: { queueItemBytesMax: 1_000 } })).queues.ephemeral<string | Uint8Array>();
      await q.put("x".repeat(500));
      await expectError(q.put("x".repeat(2_000)), RequestSizeError);
      await expectError(q.put(new Uint8Array(1_500), { timeoutMs: 0 }), RequestSizeError);
      await expectError(q.putMany(["ok", "x".repeat(2_000), "ok"]), RequestSizeError);
      expect(await q.getMany(10, { timeoutMs: 0 })).toEqual(["x".repeat(500)]);
    });

    it("queuePartitionsMax: a partition beyond it is ResourceExhaustedError; existing ones still take items", async () => {
      const q = await (await h.make({ limits: { queuePartitionsMax: 3 } })).queues.ephemeral<number>();
      for (const p of ["p1", "p2", "p3"]) await q.put(1, { partition: p });
      await expectError(q.put(1, { partition: "p4" }), ResourceExhaustedError);
      await expectError(q.putMany([1, 2], { partition: "p4" }), ResourceExhaustedError);
      await q.put(2, { partition: "p1" });
      expect(await q.len({ partition: "p4" })).toBe(0);
      expect(await q.len({ total: true })).toBe(4);
    });

    it("queuePartitionsMax counts partitions that hold items: a cleared one makes room", async () => {
      const q = await (await h.make({ limits: { queuePartitionsMax: 2 } })).queues.ephemeral<number>();
      await q.put(1, { partition: "p1" });
      await q.put(1, { partition: "p2" });
      await q.clear({ partition: "p1" });
      await q.put(1, { partition: "p3" });
      expect(await q.len({ total: true })).toBe(2);
    });

    it("the limit is per queue", async () => {
      const store = await h.make({ limits: { queuePartitionsMax: 1 } });
      const a = await store.queues.ephemeral<number>();
      const b = await store.queues.ephemeral<number>();
      await a.put(1, { partition: "p1" });
      await b.put(1, { partition: "p2" });
      expect(await b.len({ partition: "p2" })).toBe(1);
    });

    it("partition keys of 1 to 64 UTF-8 bytes are valid, multibyte ones included", async () => {
      const q = await (await h.make()).queues.ephemeral<string>();
      for (const partition of VALID_PARTITIONS) await q.put(partition, { partition });
      for (const partition of VALID_PARTITIONS) expect(await q.get({ partition, timeoutMs: 0 })).toBe(partition);
    });

    it('partition keys "", over 64 UTF-8 bytes or with lone surrogates are InvalidError in every call', async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      for (const partition of INVALID_PARTITIONS) {
        for (const call of callsWith(q, partition)) await expectError(call, InvalidError);
      }
      expect(await q.len({ total: true })).toBe(0);
    });
  });
}
