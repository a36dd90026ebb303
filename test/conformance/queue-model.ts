// A queue against an obviously-correct model: a list per partition. Random sequences of
// non-waiting operations over three partitions check FIFO order, partition isolation,
// len/clear scopes and iterate. fast-check prints the seed and a shrunk sequence on failure.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Queue } from "../../proto/api.ts";
import { QueueEmptyError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { collect } from "./waiting.ts";

type Partition = "a" | "b" | undefined;
type Op =
  | { op: "putMany"; values: number[]; partition: Partition }
  | { op: "getMany"; n: number; partition: Partition }
  | { op: "len" | "clear" | "iterate"; partition: Partition }
  | { op: "lenTotal" | "clearAll" };

const partition = fc.constantFrom<Partition>(undefined, "a", "b");
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("putMany" as const), values: fc.array(fc.integer(), { minLength: 1, maxLength: 5 }), partition }),
  fc.record({ op: fc.constant("getMany" as const), n: fc.integer({ min: 1, max: 4 }), partition }),
  fc.record({ op: fc.constantFrom("len" as const, "clear" as const, "iterate" as const), partition }),
  fc.record({ op: fc.constantFrom("lenTotal" as const, "clearAll" as const) }),
);

type Model = Map<Partition, number[]>;

async function step(q: Queue<number>, model: Model, o: Op): Promise<void> {
  const items = "partition" in o ? (model.get(o.partition) ?? []) : [];
  const at = "partition" in o && o.partition !== undefined ? { partition: o.partition } : {};
  switch (o.op) {
    case "putMany":
      model.set(o.partition, [...items, ...o.values]);
      if (o.values.length === 1) await q.put(o.values[0]!, at);
      else await q.putMany(o.values, at);
      return;
    case "getMany": {
      if (items.length === 0) {
        await expectError(o.n === 1 ? q.get({ ...at, timeoutMs: 0 }) : q.getMany(o.n, { ...at, timeoutMs: 0 }), QueueEmptyError);
        return;
      }
      const expected = items.splice(0, o.n);
      const got = o.n === 1 ? [await q.get({ ...at, timeoutMs: 0 })] : await q.getMany(o.n, { ...at, timeoutMs: 0 });
      expect(got).toEqual(expected);
      return;
    }
    case "len":
      expect(await q.len(at)).toBe(items.length);
      return;
    case "lenTotal":
      expect(await q.len({ total: true })).toBe([...model.values()].reduce((sum, list) => sum + list.length, 0));
      return;
    case "clear":
      model.set(o.partition, []);
      await q.clear(at);
      return;
    case "clearAll":
      model.clear();
      await q.clear({ all: true });
      return;
    case "iterate":
      expect(await collect(q.iterate(at))).toEqual(items);
      return;
  }
}

export function queueModelSuite(h: Harness): void {
  describe("queue: against a model", () => {
    it("random operation sequences give the model's results", async () => {
      const store = await h.make();
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
          const q = await store.queues.ephemeral<number>();
          try {
            const model: Model = new Map();
            for (const o of ops) await step(q, model, o);
            await step(q, model, { op: "lenTotal" });
          } finally {
            await q.close();
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}
