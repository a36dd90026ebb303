// The HTTP client bounds its connections: thousands of concurrent calls queue in the client
// instead of opening a socket each, while calls that wait at the server (long-polls) have
// connections of their own, so any number of waiting getters never starve the put that
// wakes them.

import { readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import type { Store } from "../../proto/api.ts";
import { startServer, type LarderServer } from "../../server/index.ts";

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

describe("remote client connections", () => {
  let server: LarderServer;
  let store: Store;

  beforeAll(async () => {
    server = await startServer({ memory: true, port: 0 });
    store = await connect(server.url, { connections: 16 });
  });

  afterAll(async () => {
    await store?.close();
    await server?.close();
  });

  it("2,000 concurrent calls share a bounded number of sockets", async () => {
    const d = await store.dicts.fromName("many", { createIfMissing: true });
    await d.put("k", 1);
    const before = openFds();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, openFds())), 1);
    const values = await Promise.all(Array.from({ length: 2_000 }, () => d.get("k")));
    clearInterval(sampler);
    expect(values.every((v) => v === 1)).toBe(true);
    // 16 client sockets plus the server's 16 ends, and some slack for the test process.
    expect(peak - before).toBeLessThan(100);
  });

  it("200 waiting getters do not hold up the puts that wake them", async () => {
    const q = await store.queues.fromName<number>("waiters", { createIfMissing: true });
    const getters = Array.from({ length: 200 }, (_, i) => q.get({ partition: `p${i}`, timeoutMs: 20_000 }));
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all(Array.from({ length: 200 }, (_, i) => q.put(i, { partition: `p${i}` })));
    expect(await Promise.all(getters)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });
});
