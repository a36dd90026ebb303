// Ephemeral objects over HTTP: the server reaps one whose heartbeats stopped for longer than
// ephemeralExpiryMs, heartbeats (manual or the client's timer) keep one alive, and objects
// found at start get a fresh lease. Lease time runs on a ManualClock; to know that a reaper
// pass has run after a clock jump, each test watches a "sentinel" object that must be reaped.

import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { RemoteBackend } from "../../client/remote.ts";
import type { Store } from "../../proto/api.ts";
import type { ObjectKind } from "../../proto/backend.ts";
import { NotFoundError } from "../../proto/errors.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { expectError } from "../conformance/expect-error.ts";
import { ManualClock } from "../support/clock.ts";
import { tempFolder } from "../support/remote-store.ts";

const EXPIRY_MS = 60_000;
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(clock: ManualClock, path?: string): Promise<LarderServer> {
  const s = await startServer({
    port: 0,
    clock,
    ephemeralExpiryMs: EXPIRY_MS,
    reapIntervalMs: 10,
    ...(path === undefined ? { memory: true } : { path }),
  });
  cleanups.push(() => s.close());
  return s;
}

async function backend(url: string, heartbeatIntervalMs = 3_600_000): Promise<RemoteBackend> {
  const b = await RemoteBackend.connect(url, { heartbeatIntervalMs });
  cleanups.push(() => b.close());
  return b;
}

async function ephemeral(b: RemoteBackend, kind: ObjectKind = "queue"): Promise<string> {
  return (await b.getObject(kind, { environment: "main", mode: "ephemeral" })).id;
}

async function exists(b: RemoteBackend, id: string, kind: ObjectKind = "queue"): Promise<boolean> {
  try {
    await b.getObjectById(kind, id);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

/** Polls until the object is gone: the reaper has run since the last clock jump. */
async function reaped(b: RemoteBackend, id: string): Promise<void> {
  while (await exists(b, id)) await new Promise((r) => setTimeout(r, 10));
}

describe("ephemeral objects over HTTP", () => {
  it("the server reaps an ephemeral object whose heartbeats stopped", async () => {
    const clock = new ManualClock();
    const s = await server(clock);
    const b = await backend(s.url);
    const queue = await ephemeral(b);
    const dict = await ephemeral(b, "dict");
    clock.advance(EXPIRY_MS - 1);
    const sentinelClock = await ephemeral(b);
    clock.advance(1);
    await reaped(b, queue);
    expect(await exists(b, dict, "dict")).toBe(false);
    expect(await exists(b, sentinelClock)).toBe(true);
    await expectError(b.heartbeat("queue", queue), NotFoundError);
  });

  it("a heartbeat extends the lease by the expiry from now", async () => {
    const clock = new ManualClock();
    const s = await server(clock);
    const b = await backend(s.url);
    const kept = await ephemeral(b);
    const sentinel = await ephemeral(b);
    clock.advance(EXPIRY_MS / 2);
    await b.heartbeat("queue", kept);
    clock.advance(EXPIRY_MS / 2 + 1);
    await reaped(b, sentinel);
    expect(await exists(b, kept)).toBe(true);
    clock.advance(EXPIRY_MS / 2);
    await reaped(b, kept);
  });

  it("the client's timer sends heartbeats for the ephemeral objects it made, until they are closed", async () => {
    const clock = new ManualClock();
    const s = await server(clock);
    const watcher = await backend(s.url);
    const store: Store = await connect(s.url, { heartbeatIntervalMs: 20 });
    cleanups.push(() => store.close());
    const kept = await store.queues.ephemeral();
    const closed = await store.queues.ephemeral();
    await closed.close();
    const sentinel = await ephemeral(watcher);
    clock.advance(EXPIRY_MS * 0.6);
    // Heartbeats every 20 ms move kept's expiry to at least now + expiry during this pause.
    await new Promise((r) => setTimeout(r, 300));
    clock.advance(EXPIRY_MS * 0.6);
    await reaped(watcher, sentinel);
    expect(await exists(watcher, kept.id)).toBe(true);
    expect(await exists(watcher, closed.id)).toBe(false);
  });

  it("a handle's close() deletes its ephemeral object at once", async () => {
    const s = await server(new ManualClock());
    const watcher = await backend(s.url);
    const store = await connect(s.url);
    const d = await store.dicts.ephemeral();
    expect(await exists(watcher, d.id, "dict")).toBe(true);
    await store.close();
    expect(await exists(watcher, d.id, "dict")).toBe(false);
  });

  it("ephemeral objects found at start get a fresh lease and are reaped when no heartbeat comes", async () => {
    const folder = await tempFolder();
    cleanups.push(folder.remove);
    const first = await server(new ManualClock(), folder.path);
    const id = await ephemeral(await backend(first.url));
    await first.close();

    const clock = new ManualClock(Date.UTC(2027, 0, 1));
    const second = await server(clock, folder.path);
    const b = await backend(second.url);
    expect(await exists(b, id)).toBe(true);
    clock.advance(EXPIRY_MS + 1);
    await reaped(b, id);
  });
});
