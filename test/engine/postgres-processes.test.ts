// The contract's semantics across processes sharing one PostgreSQL database: FIFO per
// partition in commit order with every item delivered exactly once, exactly one winner of
// skipIfExists and of pop, exact len, and a blocked getter in one process woken by a put in
// another through NOTIFY (its poll is switched off, so only NOTIFY can wake it).

import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../proto/api.ts";
import { open } from "../../index.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";
import { finished, startWorker } from "../support/workers.ts";

const WORKER = fileURLToPath(new URL("../support/postgres-worker.ts", import.meta.url));
const missing = postgresMissing();
if (missing) console.warn(`skipping the PostgreSQL multi-process tests: ${missing}`);

describe.skipIf(missing !== undefined)("PostgreSQL: several processes on one database", () => {
  let cluster: PgCluster;
  let url: string;
  let store: Store;

  beforeAll(async () => {
    cluster = await startPostgres({ noFsync: true });
    url = await cluster.createDatabase();
    store = await open({ postgres: url });
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
  });

  // Three processes and 600 puts one at a time: past 30 s on the shared machine under load.
  it("puts from two processes come out FIFO per producer, each exactly once, while a third process gets; len is exact", { timeout: 120_000 }, async () => {
    const q = await store.queues.fromName<string>("fifo", { createIfMissing: true });
    const count = 300;
    const producers = ["a", "b"].map((name) => startWorker("producer", { url, queue: "fifo", name, count }, WORKER));
    const got: string[] = [];
    // Gets race the producers; once both are done, what is left is counted by len, then taken.
    const done = Promise.all(producers.map(finished));
    let finishedAll = false;
    void done.then(() => (finishedAll = true));
    while (!finishedAll) got.push(...(await q.getMany(50, { timeoutMs: 100 }).catch(() => [])));
    await done;
    expect(await q.len()).toBe(2 * count - got.length);
    for (;;) {
      const more = await q.getMany(100, { timeoutMs: 0 }).catch(() => []);
      if (more.length === 0) break;
      got.push(...more);
    }
    expect(got.length).toBe(2 * count);
    expect(new Set(got).size).toBe(2 * count);
    for (const name of ["a", "b"]) {
      const mine = got.filter((v) => v.startsWith(`${name}:`)).map((v) => Number(v.slice(2)));
      expect(mine).toEqual([...mine].sort((x, y) => x - y));
    }
    expect(await q.len()).toBe(0);
  });

  it("exactly one of two processes wins each skipIfExists put, and exactly one pop gets each value", async () => {
    const d = await store.dicts.fromName<string, string>("race", { createIfMissing: true });
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
    const skippers = ["x", "y"].map((name) => startWorker("skipper", { url, dict: "race", name, keys, startAt: Date.now() + 2_500 }, WORKER));
    await Promise.all(skippers.map(finished));
    const won = skippers.flatMap((w) => w.lines.filter((l) => l.startsWith("won ")).map((l) => l.slice(4)));
    expect(won.sort()).toEqual([...keys].sort());
    expect(await d.len()).toBe(keys.length);
    for (const key of keys) expect(["x", "y"]).toContain(await d.get(key));
    const startAt = Date.now() + 2_500;
    const poppers = [0, 1].map(() => startWorker("popper", { url, dict: "race", keys, startAt }, WORKER));
    await Promise.all(poppers.map(finished));
    const popped = poppers.flatMap((w) => w.lines.filter((l) => l.startsWith("popped ")).map((l) => l.slice(7)));
    expect(popped.sort()).toEqual([...keys].sort());
    expect(await d.len()).toBe(0);
  });

  it("a getter blocked in another process is woken by a put here through NOTIFY (no polling)", async () => {
    const q = await store.queues.fromName<string>("wake", { createIfMissing: true });
    const waiter = startWorker("waiter", { url, queue: "wake", count: 3, pollIntervalMs: 3_600_000 }, WORKER);
    await waiter.waitFor(/^waiting$/);
    for (const value of ["one", "two", "three"]) {
      // Give the waiter time to block again before the next put.
      await new Promise((r) => setTimeout(r, 300));
      await q.put(value);
      await waiter.waitFor(new RegExp(`^got ${value}$`));
    }
    await finished(waiter);
  });
});
