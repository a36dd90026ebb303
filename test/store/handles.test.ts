// Which handles a store keeps hold of. A store must reach the handles that own an
// ephemeral object (it deletes them at close) and the handles with waits pending (it
// releases them at close); it must not keep any other handle, because programs call
// fromName() per request and never close named handles. It used to keep every handle it
// made, ~200 bytes each, forever: 4,800 fromName() calls a round grew the heap ~1 MiB.

import { afterEach, describe, expect, it } from "vitest";
import { open } from "../../index.ts";
import type { Store } from "../../proto/api.ts";
import { ClosedError } from "../../proto/errors.ts";
import { expectError } from "../conformance/expect-error.ts";

function tracked(store: Store): number {
  return (store as unknown as { handles: Set<unknown> }).handles.size;
}

const stores: Store[] = [];
afterEach(async () => {
  await Promise.allSettled(stores.splice(0).map((s) => s.close()));
});

async function memoryStore(): Promise<Store> {
  const store = await open({ memory: true });
  stores.push(store);
  return store;
}

describe("handles a store keeps", () => {
  it("named handles are not kept, however many are made and used", async () => {
    const store = await memoryStore();
    for (let i = 0; i < 200; i++) {
      const q = await store.queues.fromName("q", { createIfMissing: true });
      await q.put(i);
      await q.get({ timeoutMs: 0 });
      const d = await store.dicts.fromName("d", { createIfMissing: true });
      await d.put("k", i);
    }
    await store.queues.create("made");
    expect(tracked(store)).toBe(0);
  });

  it("handles owning an ephemeral object are kept until closed, and deleted at store close", async () => {
    const store = await memoryStore();
    const a = await store.queues.ephemeral();
    const b = await store.dicts.ephemeral();
    expect(tracked(store)).toBe(2);
    await a.close();
    expect(tracked(store)).toBe(1);
    await b.put("k", 1);
    await store.close();
    await expectError(() => b.get("k"), ClosedError);
  });

  it("a named handle is kept while it waits, released with ClosedError when the store closes, and dropped after", async () => {
    const store = await memoryStore();
    const q = await store.queues.fromName("q", { createIfMissing: true });
    const waiting = q.get();
    const iterating = q.iterate({ itemPollTimeoutMs: 60_000 })[Symbol.asyncIterator]().next();
    await new Promise((r) => setTimeout(r, 20));
    expect(tracked(store)).toBe(1);
    const done = q.get({ timeoutMs: 10 }).catch(() => undefined);
    await done;
    expect(tracked(store)).toBe(1);
    await store.close();
    await expectError(waiting, ClosedError);
    await expectError(iterating, ClosedError);
  });

  it("a named handle whose waits ended is dropped", async () => {
    const store = await memoryStore();
    const q = await store.queues.fromName("q", { createIfMissing: true });
    const got = q.get({ timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 20));
    expect(tracked(store)).toBe(1);
    await q.put("x");
    expect(await got).toBe("x");
    expect(tracked(store)).toBe(0);
  });
});
