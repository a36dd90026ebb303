// Got items are never lost in transit (docs/protocol.md, "Got items in transit"). A remote
// get with a request id is served as a reservation whose lease outlasts the record of its
// id; the client acknowledges what it received. So a client process SIGKILLed after the
// server committed its get, before it could say it received the items, does not take them
// with it: one lease later they are back at their place in the partition, ahead of what
// was put since. A client that comes back within the window gets the same items, acks
// them, and they are gone for good. With the ids switched off the killed client's items
// are lost (seen failing: the test below expects that, and the first case then fails).

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { ROUTES } from "../../proto/calls.ts";
import { MSGPACK_TYPE, packEnvelope, unpackEnvelope } from "../../proto/wire.ts";
import { encodeValue } from "../../proto/values.ts";
import { startServer } from "../../server/index.ts";
import { ManualClock } from "../support/clock.ts";
import { tempFolder } from "../support/remote-store.ts";

const CLIENT = fileURLToPath(new URL("../support/transit-client.ts", import.meta.url));
/** Past the lease of a get in transit: requestIdRetentionMs (60 s by default) plus 5 s. */
const PAST_LEASE_MS = 66_000;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function served() {
  const folder = await tempFolder("larder-get-transit-");
  cleanups.push(folder.remove);
  const clock = new ManualClock(Date.now());
  const server = await startServer({ path: folder.path, port: 0, clock });
  cleanups.push(() => server.close());
  const store = await connect(server.url);
  cleanups.push(() => store.close());
  const q = await store.queues.fromName<string>("jobs", { createIfMissing: true });
  return { server, clock, store, q };
}

/** Runs the client process: it gets up to n items, prints them and SIGKILLs itself. */
async function getAndVanish(url: string, n: number, requestIds: boolean, inTransit: "true" | "default" = "true"): Promise<{ got: string[]; signal: string | null }> {
  const child = spawn(process.execPath, ["--import", "tsx", CLIENT, url, "jobs", String(n), String(requestIds), inTransit], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const signal = await new Promise<string | null>((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
  const line = out.split("\n")[0] ?? "";
  if (line === "") throw new Error(`the client printed nothing; stderr:\n${err}`);
  return { got: JSON.parse(line) as string[], signal };
}

async function rest(q: { getMany(n: number, o: { timeoutMs: number }): Promise<string[]> }): Promise<string[]> {
  return q.getMany(100, { timeoutMs: 0 }).catch((err: unknown) => {
    if ((err as { code?: string }).code === "QUEUE_EMPTY") return [];
    throw err;
  });
}

describe("got items in transit", () => {
  it("a client SIGKILLed after its get was committed, before its ack: the items come back at their place", { timeout: 60_000 }, async () => {
    const { server, clock, q } = await served();
    await q.putMany(["a", "b", "c", "d", "e"]);
    const { got, signal } = await getAndVanish(server.url, 3, true);
    expect(signal).toBe("SIGKILL");
    expect(got).toEqual(["a", "b", "c"]);
    // Within the lease they are held for that client: others get the items after them.
    expect(await q.len()).toBe(5);
    expect(await rest(q)).toEqual(["d", "e"]);
    await q.put("f");
    clock.advance(PAST_LEASE_MS);
    // The client never came back: its items are back, ahead of the item put since.
    expect(await rest(q)).toEqual(["a", "b", "c", "f"]);
    expect(await q.len()).toBe(0);
  });

  it("without request ids the killed client's items are lost (what the lease prevents)", { timeout: 60_000 }, async () => {
    const { server, clock, q } = await served();
    await q.putMany(["a", "b", "c", "d"]);
    const { got, signal } = await getAndVanish(server.url, 3, false);
    expect(signal).toBe("SIGKILL");
    expect(got).toEqual(["a", "b", "c"]);
    clock.advance(PAST_LEASE_MS);
    expect(await rest(q)).toEqual(["d"]);
  });

  it("by default (getsInTransit unset) a get is not held in transit: the killed client's items stay taken", { timeout: 60_000 }, async () => {
    // Transit is opt-in (docs/protocol.md, "Known gaps"). Seen failing with the client
    // sending ackable by default: the items came back after the lease.
    const { server, clock, q } = await served();
    await q.putMany(["a", "b", "c", "d"]);
    const { got, signal } = await getAndVanish(server.url, 3, true, "default");
    expect(signal).toBe("SIGKILL");
    expect(got).toEqual(["a", "b", "c"]);
    clock.advance(PAST_LEASE_MS);
    expect(await rest(q)).toEqual(["d"]);
  });

  it("a client that comes back within the window gets the same items and tokens; acked, they are gone for good", async () => {
    const { server, clock, q } = await served();
    const id = (await q.info()).id;
    await q.putMany(["a", "b", "c"]);
    const call = async (route: string, envelope: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const res = await fetch(`${server.url}${route}`, { method: "POST", headers: { "content-type": MSGPACK_TYPE }, body: packEnvelope(envelope) });
      expect(res.status).toBe(200);
      return unpackEnvelope(new Uint8Array(await res.arrayBuffer())) as Record<string, unknown>;
    };
    const get = { id, n: 2, timeoutMs: 0, requestId: "transit-1", ackable: true };
    // The first answer is "lost": the client only hears the retry's.
    const first = await call(ROUTES.queueGet, get);
    clock.advance(40_000);
    const retried = await call(ROUTES.queueGet, { ...get, retry: true });
    expect(retried).toEqual(first);
    expect(retried.values).toEqual([encodeValue("a"), encodeValue("b")].map((v) => new Uint8Array(v)));
    expect((retried.tokens as string[]).length).toBe(2);
    // The ack rides on the next call on the queue, which already sees the items gone.
    expect((await call(ROUTES.queueLen, { id, ack: retried.tokens })).len).toBe(1);
    clock.advance(PAST_LEASE_MS);
    expect(await rest(q)).toEqual(["c"]);
  });
});

// Review 2, T6: whether a get is served in transit is decided per attempt (it needs a
// leaseMsMax above the retention), but a retry is answered from the first attempt's record.
// Seen failing without getAnswer(): the retry answered reservations as `values` (transit
// switched off) or `values` of undefined (switched on).
describe("a get's retry after a restart that switched transit", () => {
  const call = async (url: string, route: string, envelope: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const res = await fetch(`${url}${route}`, { method: "POST", headers: { "content-type": MSGPACK_TYPE }, body: packEnvelope(envelope) });
    expect(res.status).toBe(200);
    return unpackEnvelope(new Uint8Array(await res.arrayBuffer())) as Record<string, unknown>;
  };
  const values = ["a", "b"].map((v) => new Uint8Array(encodeValue(v)));

  for (const [first, then] of [["on", "off"], ["off", "on"]] as const) {
    it(`served in transit ${first}, retried with it ${then}: the first attempt's answer`, async () => {
      const folder = await tempFolder("larder-get-transit-switch-");
      cleanups.push(folder.remove);
      // A leaseMsMax below requestIdRetentionMs + 5 s switches transit off.
      const limits = (mode: "on" | "off") => (mode === "off" ? { limits: { leaseMsMax: 1_000 } } : {});
      let server = await startServer({ path: folder.path, port: 0, ...limits(first) });
      const store = await connect(server.url);
      const q = await store.queues.fromName<string>("jobs", { createIfMissing: true });
      const id = (await q.info()).id;
      await q.putMany(["a", "b", "c"]);
      await store.close();
      const get = { id, n: 2, timeoutMs: 0, requestId: `switch-${first}`, ackable: true };
      const answer = await call(server.url, ROUTES.queueGet, get);
      await server.close();
      server = await startServer({ path: folder.path, port: 0, ...limits(then) });
      cleanups.push(() => server.close());
      const retried = await call(server.url, ROUTES.queueGet, { ...get, retry: true });
      expect(retried).toEqual(answer);
      expect(retried.values).toEqual(values);
      expect(retried.tokens === undefined).toBe(first === "off");
    });
  }
});
