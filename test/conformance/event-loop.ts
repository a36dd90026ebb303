// Loops of calls that find nothing: a Modal-style poll (`get(block=False)` in a loop), a
// spin on a skipIfExists lock, a loop reading a stop flag. Embedded, such calls answer
// without real I/O; the timer or the other task that ends the loop must still get to run
// (engine/turns.ts), as it does over HTTP. Each loop is bounded by a deadline, so that
// without the guarantee the test fails instead of hanging.

import { describe, expect, it } from "vitest";
import { NotFoundError, QueueEmptyError } from "../../proto/errors.ts";
import type { Harness } from "./harness.ts";

const DEADLINE_MS = 5_000;

export function eventLoopSuite(h: Harness): void {
  describe("loops of calls that find nothing let timers and I/O run", () => {
    it("polling get({ timeoutMs: 0 }) gets the item a timer puts", async () => {
      const q = await (await h.make()).queues.ephemeral<number>();
      setTimeout(() => void q.put(1), 20);
      const deadline = Date.now() + DEADLINE_MS;
      let got: number | undefined;
      let polls = 0;
      while (got === undefined && Date.now() < deadline) {
        polls++;
        try {
          got = await q.get({ timeoutMs: 0 });
        } catch (err) {
          if (!(err instanceof QueueEmptyError)) throw err;
        }
      }
      expect({ got, polls: polls > 1 }).toEqual({ got: 1, polls: true });
    });

    it("a loop reading a stop flag ends when a timer sets it; a skipIfExists spin takes a lock a timer frees", async () => {
      const d = await (await h.make()).dicts.ephemeral<string, boolean>();
      await d.put("stop", false);
      setTimeout(() => void d.put("stop", true), 20);
      const deadline = Date.now() + DEADLINE_MS;
      let stopped = false;
      while (!stopped && Date.now() < deadline) stopped = (await d.get("stop")) === true;
      expect(stopped).toBe(true);

      await d.put("lock", true);
      setTimeout(() => void d.pop("lock"), 20);
      let taken = false;
      while (!taken && Date.now() < deadline) taken = await d.put("lock", true, { skipIfExists: true });
      expect(taken).toBe(true);
    });

    it("polling fromName finds the object a timer creates", async () => {
      const store = await h.make();
      setTimeout(() => void store.dicts.fromName("late", { createIfMissing: true }), 20);
      const deadline = Date.now() + DEADLINE_MS;
      let found = false;
      while (!found && Date.now() < deadline) {
        try {
          await store.dicts.fromName("late");
          found = true;
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
      expect(found).toBe(true);
    });
  });
}
