// Closing (spec: "Closing a store rejects its pending waits (get, getMany, a put waiting for
// room) with ClosedError; any call on a closed store, or on a handle after its own close(),
// is ClosedError"; "Store: ... [Symbol.asyncDispose] so that await using store = await
// open(...) works"; "Ephemeral objects are deleted by handle.close() / await using").

import { describe, expect, it } from "vitest";
import type { Dict, Queue, Store } from "../../proto/api.ts";
import { ClosedError, InvalidError, NotFoundError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { background, collect, PROMPT_MS, within } from "./waiting.ts";

function dictCalls(d: Dict<string, number>): Array<() => Promise<unknown>> {
  return [
    () => d.put("k", 1),
    () => d.get("k"),
    () => d.contains("k"),
    () => d.pop("k", 0),
    () => d.update({ a: 1 }),
    () => d.len(),
    () => d.clear(),
    () => collect(d.keys()),
    () => collect(d.items()),
    () => d.info(),
  ];
}

function queueCalls(q: Queue<number>): Array<() => Promise<unknown>> {
  return [
    () => q.put(1),
    () => q.putMany([1]),
    () => q.get({ timeoutMs: 0 }),
    () => q.getMany(1, { timeoutMs: 0 }),
    () => q.len(),
    () => q.clear(),
    () => collect(q.iterate()),
    () => q.info(),
  ];
}

function serviceCalls(store: Store): Array<() => Promise<unknown>> {
  return [
    () => store.dicts.fromName("d", { createIfMissing: true }),
    () => store.dicts.ephemeral(),
    () => store.dicts.create("x"),
    () => store.dicts.list(),
    () => store.dicts.delete("d", { allowMissing: true }),
    () => store.queues.fromName("q", { createIfMissing: true }),
    () => store.queues.fromId("qu-nonexistent"),
    () => store.queues.ephemeral(),
    () => store.queues.list(),
  ];
}

export function lifecycleSuite(h: Harness): void {
  describe("lifecycle: close and await using", () => {
    it("every call on a closed store, and on its handles, is ClosedError", async () => {
      const store = await h.make();
      const d = await store.dicts.fromName<string, number>("d", { createIfMissing: true });
      const q = await store.queues.fromName<number>("q", { createIfMissing: true });
      await store.close();
      for (const call of [...serviceCalls(store), ...dictCalls(d), ...queueCalls(q)]) await expectError(call, ClosedError);
    });

    it("calls on a handle after its own close() are ClosedError; other handles still work", async () => {
      const store = await h.make();
      const d = await store.dicts.fromName<string, number>("d", { createIfMissing: true });
      const q = await store.queues.fromName<number>("q", { createIfMissing: true });
      await d.close();
      await q.close();
      for (const call of [...dictCalls(d), ...queueCalls(q)]) await expectError(call, ClosedError);
      const d2 = await store.dicts.fromName<string, number>("d");
      await d2.put("k", 1);
      const q2 = await store.queues.fromName<number>("q");
      await q2.put(1);
      expect(await q2.len()).toBe(1);
    });

    it("closing twice is harmless", async () => {
      const store = await h.make();
      const d = await store.dicts.ephemeral();
      await d.close();
      await d.close();
      await store.close();
      await store.close();
    });

    it("closing a store rejects its pending get, getMany and put waiting for room with ClosedError", async () => {
      const store = await h.make({ limits: { queuePartitionItemsMax: 2 } });
      const q = await store.queues.fromName<number>("q", { createIfMissing: true });
      await q.putMany([1, 2], { partition: "full" });
      const pending: Array<Promise<unknown>> = [
        background(q.get()),
        background(q.get({ partition: "empty", timeoutMs: 20_000 })),
        background(q.getMany(5)),
        background(q.put(3, { partition: "full" })),
        background(q.putMany([3], { partition: "full", timeoutMs: 20_000 })),
      ];
      await new Promise((resolve) => setTimeout(resolve, 100));
      await within(store.close(), PROMPT_MS);
      for (const wait of pending) await expectError(within(wait, PROMPT_MS), ClosedError);
    });

    it("closing an ephemeral queue's handle, or its store, ends a waiting iterate with ClosedError, not NotFoundError", async () => {
      // The close deletes the ephemeral queue right after it releases the wait: the wait must
      // learn of the close, as a wait on a named queue does, before it sees the queue gone.
      const drain = async (q: Queue<number>): Promise<void> => {
        for await (const _ of q.iterate({ itemPollTimeoutMs: 20_000 })) void _;
      };
      const store = await h.make();
      const byHandle = await store.queues.ephemeral<number>();
      const waitHandle = background(drain(byHandle));
      const byStore = await store.queues.ephemeral<number>();
      const waitStore = background(drain(byStore));
      await new Promise((resolve) => setTimeout(resolve, 100));
      await within(byHandle.close(), PROMPT_MS);
      await expectError(within(waitHandle, PROMPT_MS), ClosedError);
      await within(store.close(), PROMPT_MS);
      await expectError(within(waitStore, PROMPT_MS), ClosedError);
    });

    it("await using closes the store at the end of the block", async () => {
      let q: Queue<number>;
      {
        await using store = await h.make();
        q = await store.queues.fromName<number>("q", { createIfMissing: true });
        await q.put(1);
      }
      await expectError(q.len(), ClosedError);
    });

    it("await using on an ephemeral handle deletes its object; on a named one keeps it", async () => {
      const store = await h.make();
      let ephemeralId: string;
      {
        await using eph = await store.dicts.ephemeral();
        await using named = await store.queues.fromName("kept", { createIfMissing: true });
        ephemeralId = eph.id;
        await eph.put("k", 1);
        await named.put(1);
      }
      await expectError(store.dicts.fromId(ephemeralId), NotFoundError);
      expect(await (await store.queues.fromName("kept")).len()).toBe(1);
    });

    it("Modal's JavaScript names: closeEphemeral() deletes what ephemeral() made, and is InvalidError on other handles; queueId and dictId are the id", async () => {
      const store = await h.make();
      const q = await store.queues.ephemeral<number>();
      const d = await store.dicts.ephemeral();
      expect(q.queueId).toBe(q.id);
      expect(d.dictId).toBe(d.id);
      await q.put(1);
      await q.closeEphemeral();
      await d.closeEphemeral();
      await expectError(store.queues.fromId(q.id), NotFoundError);
      await expectError(store.dicts.fromId(d.id), NotFoundError);
      await expectError(q.len(), ClosedError);

      const named = await store.queues.fromName("named", { createIfMissing: true });
      await named.put(1);
      // Thrown at once, as Modal's SDK does (code ported from it does not await the call).
      expect(() => void named.closeEphemeral()).toThrow("Queue is not ephemeral.");
      const err = await expectError(() => named.closeEphemeral(), InvalidError);
      expect(err.message).toBe("Queue is not ephemeral.");
      // Refused, it changed nothing: the handle still works and the queue keeps its item.
      expect(await named.len()).toBe(1);
      // A handle found by id to an ephemeral object does not own it either.
      const owner = await store.dicts.ephemeral();
      const byId = await store.dicts.fromId(owner.id);
      await expectError(() => byId.closeEphemeral(), InvalidError);
      expect(await owner.len()).toBe(0);
      await owner.close();
    });
  });
}
