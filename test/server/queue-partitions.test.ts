// `POST /v1/queue/partitions` on the wire (docs/protocol.md): pages in key order that the
// web console reads with ui/api.ts `partitionsOf` (the default partition without
// `partition`, a partition that never expires without `expiresAt`), `after: ""` to start
// after the default partition, and the page bound.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { ROUTES } from "../../proto/calls.ts";
import { PARTITIONS_PAGE_MAX } from "../../proto/validate.ts";
import { MSGPACK_TYPE, packEnvelope, unpackEnvelope } from "../../proto/wire.ts";
import type { Store } from "../../proto/api.ts";
import { ManualClock } from "../support/clock.ts";

async function partitions(url: string, envelope: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${ROUTES.queuePartitions}`, { method: "POST", headers: { "content-type": MSGPACK_TYPE }, body: packEnvelope(envelope) });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, body: res.ok ? (unpackEnvelope(bytes) as Record<string, unknown>) : JSON.parse(Buffer.from(bytes).toString()) };
}

/**
 * The console's reader of this answer. ui/api.ts is compiled for the browser (ui/tsconfig.json,
 * DOM types), so it is loaded by a path the Node.js type check does not follow.
 */
const UI_API = "../../ui/api.ts";
type PartitionsOf = (answer: Record<string, unknown>) => { partitions: Array<{ partition: string | undefined; len: number; reserved: number; expiresAt: number | undefined }>; more: boolean };
const { partitionsOf } = (await import(UI_API)) as { partitionsOf: PartitionsOf };

describe("queue/partitions", () => {
  const clock = new ManualClock();
  let server: LarderServer;
  let store: Store;
  let id: string;
  beforeAll(async () => {
    server = await startServer({ memory: true, port: 0, clock });
    store = await connect(server.url);
    const q = await store.queues.fromName("listed", { createIfMissing: true });
    id = (await q.info()).id;
    await q.putMany([1, 2], { partitionTtlMs: 1_000 });
    await q.put(3, { partition: "b", partitionTtlMs: Infinity });
    await q.put(4, { partition: "a" });
  });
  afterAll(async () => {
    await store.close();
    await server.close();
  });

  it("sends pages the console reads: no partition for the default, no expiresAt for never", async () => {
    const { status, body } = await partitions(server.url, { id, limit: 2 });
    expect(status).toBe(200);
    expect(body.more).toBe(true);
    const wire = body.partitions as Array<Record<string, unknown>>;
    expect(wire[0]).toEqual({ len: 2, reserved: 0, expiresAt: clock.now() + 1_000 });
    expect(partitionsOf(body).partitions).toEqual([
      { partition: undefined, len: 2, reserved: 0, expiresAt: clock.now() + 1_000 },
      { partition: "a", len: 1, reserved: 0, expiresAt: clock.now() + 86_400_000 },
    ]);
    // The console pages on with the last row's key, "" for the default partition.
    const next = await partitions(server.url, { id, limit: 2, after: "a" });
    expect(next.body.partitions).toEqual([{ partition: "b", len: 1, reserved: 0 }]);
    expect(next.body.more).toBe(false);
    const afterDefault = await partitions(server.url, { id, limit: 5, after: "" });
    expect(partitionsOf(afterDefault.body).partitions.map((p) => p.partition)).toEqual(["a", "b"]);
  });

  it("answers a page of at most PARTITIONS_PAGE_MAX whatever the limit", async () => {
    const q = await store.queues.fromName("many", { createIfMissing: true });
    const manyId = (await q.info()).id;
    for (let i = 0; i < PARTITIONS_PAGE_MAX + 10; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => q.put(i + j, { partition: `p${String(i + j).padStart(5, "0")}` })));
    const { body } = await partitions(server.url, { id: manyId, limit: 1_000_000 });
    expect((body.partitions as unknown[]).length).toBe(PARTITIONS_PAGE_MAX);
    expect(body.more).toBe(true);
  });

  it("refuses a bad limit or after with INVALID and an unknown queue with NOT_FOUND", async () => {
    for (const envelope of [{ id, limit: 0 }, { id, limit: 1.5 }, { id }, { id, limit: 1, after: 7 }, { id, limit: 1, after: "x".repeat(65) }]) {
      const { status, body } = await partitions(server.url, envelope);
      expect([status, body.code], JSON.stringify(envelope)).toEqual([400, "INVALID"]);
    }
    const { status, body } = await partitions(server.url, { id: "qu-nosuchqueue0000000000000", limit: 1 });
    expect([status, body.code]).toEqual([404, "NOT_FOUND"]);
  });
});
