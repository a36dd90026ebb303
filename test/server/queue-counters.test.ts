// `POST /v1/queue/counters` (docs/protocol.md): the items put into and got out of a queue
// since the server started, alone and in batches, for the console's rates; and the bound
// on how many queues are counted (server/counters.ts).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { QueueCounters, RATE_BUCKETS, RATE_BUCKET_MS } from "../../server/counters.ts";
import { ROUTES } from "../../proto/calls.ts";
import { MSGPACK_TYPE, packEnvelope, unpackEnvelope } from "../../proto/wire.ts";
import type { Store } from "../../proto/api.ts";

async function counters(url: string, id: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${ROUTES.queueCounters}`, { method: "POST", headers: { "content-type": MSGPACK_TYPE }, body: packEnvelope({ id }) });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, body: res.ok ? (unpackEnvelope(bytes) as Record<string, unknown>) : JSON.parse(Buffer.from(bytes).toString()) };
}

describe("queue/counters", () => {
  let server: LarderServer;
  let store: Store;
  beforeAll(async () => {
    server = await startServer({ memory: true, port: 0 });
    // Batching on (the default) with many calls at once: some puts and gets go in batches.
    store = await connect(server.url);
  });
  afterAll(async () => {
    await store.close();
    await server.close();
  });

  it("counts the items put and got, alone and in batches, and not those cleared", async () => {
    const q = await store.queues.fromName("counted", { createIfMissing: true });
    const id = (await q.info()).id;
    expect((await counters(server.url, id)).body).toMatchObject({ putItems: 0, gotItems: 0 });
    await q.putMany([1, 2, 3]);
    await Promise.all(Array.from({ length: 40 }, (_, i) => q.put(i, { partition: `p${i % 4}` })));
    expect(await q.getMany(2)).toEqual([1, 2]);
    await Promise.all(Array.from({ length: 20 }, (_, i) => q.get({ partition: `p${i % 4}` })));
    await q.clear({ all: true });
    const before = Date.now();
    const { status, body } = await counters(server.url, id);
    expect(status).toBe(200);
    expect(body).toMatchObject({ putItems: 43, gotItems: 22 });
    expect(body.atMs as number).toBeGreaterThanOrEqual(before - 1000);
    // The history holds the same items, in the last bucket or two.
    const history = body.history as Array<[number, number, number]>;
    expect(history).toHaveLength(RATE_BUCKETS);
    expect(history.reduce((sum, [, put]) => sum + put, 0)).toBe(43);
    expect(history.reduce((sum, [, , got]) => sum + got, 0)).toBe(22);
  });

  it("counts a retried put or get once: its retry is answered from the first attempt", async () => {
    // Seen failing before the engine marked replayed answers: putItems 4, gotItems 2.
    const q = await store.queues.fromName("retried", { createIfMissing: true });
    const id = (await q.info()).id;
    const call = async (route: string, envelope: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const res = await fetch(`${server.url}${route}`, { method: "POST", headers: { "content-type": MSGPACK_TYPE }, body: packEnvelope(envelope) });
      expect(res.status).toBe(200);
      return unpackEnvelope(new Uint8Array(await res.arrayBuffer())) as Record<string, unknown>;
    };
    const items = [new Uint8Array([0xa1, 0x61]), new Uint8Array([0xa1, 0x62])];
    await call(ROUTES.queuePut, { id, values: items, timeoutMs: 0, requestId: "count-put-1" });
    await call(ROUTES.queuePut, { id, values: items, timeoutMs: 0, requestId: "count-put-1", retry: true });
    const got = await call(ROUTES.queueGet, { id, n: 1, timeoutMs: 0, requestId: "count-get-1" });
    expect(await call(ROUTES.queueGet, { id, n: 1, timeoutMs: 0, requestId: "count-get-1", retry: true })).toEqual(got);
    expect((await counters(server.url, id)).body).toMatchObject({ putItems: 2, gotItems: 1 });
  });

  it("answers NOT_FOUND for an id that names no queue", async () => {
    const d = await store.dicts.fromName("not-a-queue", { createIfMissing: true });
    for (const id of ["qu-nosuchqueue0000000000000", (await d.info()).id]) {
      const { status, body } = await counters(server.url, id);
      expect(status).toBe(404);
      expect(body.code).toBe("NOT_FOUND");
    }
  });
});

describe("QueueCounters", () => {
  it("keeps the last five minutes in 5 s buckets, emptying those a pause passed over", () => {
    let now = 1_000_000_000_000; // on a bucket boundary
    const counts = new QueueCounters(10, () => now);
    counts.put("q", 3);
    now += RATE_BUCKET_MS + 1;
    counts.put("q", 2);
    counts.got("q", 4);
    let { history, putItems, gotItems, atMs } = counts.read("q");
    expect({ putItems, gotItems, atMs }).toEqual({ putItems: 5, gotItems: 4, atMs: now });
    expect(history).toHaveLength(RATE_BUCKETS);
    expect(history.slice(-3)).toEqual([
      [1_000_000_000_000 - RATE_BUCKET_MS, 0, 0],
      [1_000_000_000_000, 3, 0],
      [1_000_000_000_000 + RATE_BUCKET_MS, 2, 4],
    ]);
    // Four minutes on, those buckets are still there, further back; six minutes on, gone.
    now += 4 * 60_000;
    history = counts.read("q").history;
    expect(history.filter(([, put, got]) => put + got > 0)).toEqual([
      [1_000_000_000_000, 3, 0],
      [1_000_000_000_000 + RATE_BUCKET_MS, 2, 4],
    ]);
    now += 2 * 60_000;
    counts.put("q", 1);
    history = counts.read("q").history;
    expect(history.filter(([, put, got]) => put + got > 0)).toEqual([[Math.floor(now / RATE_BUCKET_MS) * RATE_BUCKET_MS, 1, 0]]);
    expect(counts.read("q").putItems).toBe(6);
  });

  it("forgets the queue counted least recently past its bound", () => {
    const counts = new QueueCounters(3);
    counts.put("a", 1);
    counts.put("b", 2);
    counts.put("c", 3);
    counts.got("a", 1); // a is now the most recent
    counts.put("d", 4); // b goes
    expect(counts.size).toBe(3);
    expect(counts.read("b")).toMatchObject({ putItems: 0, gotItems: 0 });
    expect(counts.read("a")).toMatchObject({ putItems: 1, gotItems: 1 });
    expect(counts.read("d")).toMatchObject({ putItems: 4, gotItems: 0 });
    counts.put("e", 0); // nothing counted: nothing tracked
    expect(counts.size).toBe(3);
  });
});
