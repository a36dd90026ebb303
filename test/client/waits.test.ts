// Remote waits. One that its caller abandons (the handle or the store closes) is cancelled at
// the server by id, and its own answer is read (docs/protocol.md, "Cancelling a wait").
// Before, the client dropped the connection: an item the server had just handed the
// waiting get was lost, 60 times in 60 when the close came right after the put returned.

import { request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import type { Queue, Store } from "../../proto/api.ts";
import { ClosedError, QueueEmptyError } from "../../proto/errors.ts";
import { encodeValue } from "../../proto/values.ts";
import { ROUTES } from "../../proto/calls.ts";
import { MSGPACK_TYPE, packEnvelope, unpackEnvelope } from "../../proto/wire.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { WaitRegistry } from "../../server/waits.ts";
import { proxy, type Proxy } from "../support/proxy.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(limits: Record<string, number> = {}): Promise<{ server: LarderServer; store: Store; main: Queue<number | string> }> {
  const server = await startServer({ memory: true, port: 0, limits });
  cleanups.push(() => server.close());
  const store = await connect(server.url);
  cleanups.push(() => store.close());
  const main = await store.queues.fromName<number | string>("q", { createIfMissing: true });
  return { server, store, main };
}

/** A second client reaching `server` through the test proxy, and its handle to the queue "q". */
async function proxied(server: LarderServer): Promise<{ p: Proxy; store: Store; h: Queue<number | string> }> {
  const p = await proxy(server.url, cleanups);
  const store = await connect(p.url);
  cleanups.push(() => store.close());
  const h = await store.queues.fromName<number | string>("q");
  return { p, store, h };
}

const packValue = (value: unknown): Buffer => encodeValue(value);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Outcome = { value: unknown } | { error: unknown };
const settle = (p: Promise<unknown>): Promise<Outcome> => p.then((value) => ({ value }), (error: unknown) => ({ error }));

async function post(url: string, path: string, body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
  const res = await request(`${url}${path}`, { method: "POST", body: packEnvelope(body), headers: { "content-type": MSGPACK_TYPE } });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const json = String(res.headers["content-type"]).startsWith("application/json");
  return { status: res.statusCode, body: json ? JSON.parse(bytes.toString()) : unpackEnvelope(bytes) };
}

describe("closing during a remote wait loses nothing", () => {
  it("a get served just before its handle closes returns the item; one not served is ClosedError", async () => {
    const { store, main } = await setup();
    let delivered = 0;
    let rejected = 0;
    for (let i = 0; i < 30; i++) {
      const h = await store.queues.fromName<number>("q");
      const got = settle(h.get());
      await sleep(15); // long enough for the get to be long-polling at the server
      await main.put(i);
      await h.close();
      const outcome = await got;
      const left = await main.getMany(10, { timeoutMs: 0 }).catch(() => []);
      if ("value" in outcome) {
        expect(outcome.value).toBe(i);
        expect(left).toEqual([]);
        delivered++;
      } else {
        expect(outcome.error).toBeInstanceOf(ClosedError);
        expect(left).toEqual([i]);
        rejected++;
      }
    }
    // The put returned after the server had handed the item to the waiting get.
    expect(delivered).toBe(30);
    expect(rejected).toBe(0);
  });

  it("closing the whole store of a waiting getter, at any moment around a put, loses no item", async () => {
    const { server, main } = await setup();
    const total = 40;
    let received = 0;
    for (let i = 0; i < total; i++) {
      const other = await connect(server.url);
      const h = await other.queues.fromName<number | string>("q");
      const got = settle(h.getMany(5));
      await sleep(10);
      const put = main.put(`s${i}`);
      await sleep(i % 3);
      await other.close();
      await put;
      const outcome = await got;
      if ("value" in outcome) received += (outcome.value as unknown[]).length;
      else expect(outcome.error).toBeInstanceOf(ClosedError);
    }
    const left = await main.getMany(total, { timeoutMs: 0 }).catch(() => []);
    expect(received + left.length).toBe(total);
  });

  it("a waiting put admitted just before its handle closes is written, and says so", async () => {
    const { server, main: q } = await setup({ queuePartitionItemsMax: 1 });
    await q.put("blocker");
    const { p, h } = await proxied(server);
    const put = settle(h.put("p"));
    await sleep(30); // the put is long-polling, waiting for room
    // Its answer will be held at the proxy: the server admits it, the client has not heard yet.
    p.holdPath = ROUTES.queuePut;
    expect(await q.get({ timeoutMs: 0 })).toBe("blocker");
    await sleep(30);
    const closing = h.close();
    await sleep(100); // the close has asked the server to cancel a wait it already served
    p.release();
    await closing;
    // Dropping the connection at close would make this put fail although it was written.
    expect(await put).toEqual({ value: undefined });
    expect(await q.getMany(5, { timeoutMs: 0 })).toEqual(["p"]);
  });
});

describe("closing a store reads the answers to calls in flight", () => {
  // Such a call may have taken effect at the server already. Dropping its connection at
  // close lost a get's item (11 of 20 runs in an audit) and reported written puts as failed.
  async function heldStore(path: string) {
    const { server, main: q } = await setup();
    const { p, store, h } = await proxied(server);
    p.holdPath = path;
    return { q, p, proxied: store, h };
  }

  it("a get answered by the server but not yet heard when the store closes returns its item", async () => {
    const { q, p, proxied, h } = await heldStore(ROUTES.queueGet);
    await q.put("x");
    const got = settle(h.get());
    await sleep(50); // the server took the item (held for h in transit); its answer is held at the proxy
    await expect(q.get({ timeoutMs: 0 })).rejects.toBeInstanceOf(QueueEmptyError);
    const closing = proxied.close();
    await sleep(50);
    p.release();
    await closing;
    expect(await got).toEqual({ value: "x" });
    // Its close acknowledged the item (docs/protocol.md, "Got items in transit"): gone for good.
    expect(await q.len()).toBe(0);
  });

  it("a put written by the server but not yet heard when the store closes reports success", async () => {
    const { q, p, proxied, h } = await heldStore(ROUTES.queuePut);
    const put = settle(h.put("y"));
    await sleep(50);
    expect(await q.len()).toBe(1);
    const closing = proxied.close();
    await sleep(50);
    p.release();
    await closing;
    expect(await put).toEqual({ value: undefined });
    expect(await q.get({ timeoutMs: 0 })).toBe("y");
  });
});

describe("a wait keeps its place in line across long-poll rounds", () => {
  it("a getter whose first round ended comes back ahead of a getter that arrived after it", async () => {
    const { server, main } = await setup();
    const { id } = await main.info();
    const getter = (waitId: string, timeoutMs: number) => post(server.url, ROUTES.queueGet, { id, n: 1, timeoutMs, waitId });
    const firstRound = getter("a", 100);
    await sleep(20);
    const later = getter("b", 5_000);
    // A's first round ends empty while B waits; A's second round carries the same waitId.
    expect((await firstRound).body).toEqual({ values: [] });
    const secondRound = getter("a", 5_000);
    await sleep(20);
    await main.put(1);
    await main.put(2);
    expect((await secondRound).body).toEqual({ values: [packValue(1)] });
    expect((await later).body).toEqual({ values: [packValue(2)] });
  });

  it("so does a put waiting for room", async () => {
    const { server, main: q } = await setup({ queuePartitionItemsMax: 1 });
    await q.put("x");
    const { id } = await q.info();
    const putter = (value: string, waitId: string, timeoutMs: number) =>
      post(server.url, ROUTES.queuePut, { id, values: [packValue(value)], timeoutMs, waitId });
    const firstRound = putter("a", "pa", 100);
    await sleep(20);
    const later = putter("b", "pb", 5_000);
    expect((await firstRound).body).toMatchObject({ code: "QUEUE_FULL" });
    const secondRound = putter("a", "pa", 5_000);
    await sleep(20);
    expect(await q.get()).toBe("x");
    expect((await secondRound).status).toBe(200);
    expect(await q.get()).toBe("a");
    expect((await later).status).toBe(200);
    expect(await q.get()).toBe("b");
  });
});

describe("closing a store with many waits", () => {
  it("cancels them all in one request, and every item put afterwards is still there", async () => {
    const { server, main } = await setup();
    const other = await connect(server.url);
    const q = await other.queues.fromName<number>("q");
    const calls: number[] = [];
    const cancel = WaitRegistry.prototype.cancel;
    const register = WaitRegistry.prototype.register;
    let registered = 0;
    WaitRegistry.prototype.cancel = function (this: WaitRegistry, ids: readonly string[]) {
      calls.push(ids.length);
      return cancel.call(this, ids);
    };
    WaitRegistry.prototype.register = function (this: WaitRegistry, ...args: Parameters<typeof register>) {
      registered++;
      return register.apply(this, args);
    };
    try {
      const gets = Array.from({ length: 300 }, () => settle(q.get()));
      // Every get long-polling at the server (a fixed sleep was too short on a loaded machine: 259 of 300).
      for (let waited = 0; registered < 300 && waited < 20_000; waited += 20) await sleep(20);
      expect(registered).toBe(300);
      await other.close();
      const outcomes = await Promise.all(gets);
      expect(outcomes.every((o) => "error" in o && o.error instanceof ClosedError)).toBe(true);
    } finally {
      WaitRegistry.prototype.cancel = cancel;
      WaitRegistry.prototype.register = register;
    }
    expect(calls).toEqual([300]);
    await main.putMany(Array.from({ length: 300 }, (_, i) => i));
    expect(await main.len()).toBe(300);
  });
});

describe("the wait registry", () => {
  it("keeps a ticket between rounds for 10 s, and the ticket of a round in progress however long it lasts", () => {
    let now = 0;
    let next = 0;
    const waits = new WaitRegistry(() => ++next, () => now);
    const a = waits.ticket("a");
    waits.end("a", undefined);
    now += 9_000;
    expect(waits.ticket("a")).toBe(a); // resumed within 10 s: same place
    const b = waits.ticket("b");
    waits.register("b", new AbortController());
    now += 60_000; // a and b in progress all this time
    waits.register("c", new AbortController()); // prunes
    expect(waits.ticket("a")).toBe(a);
    expect(waits.ticket("b")).toBe(b);
    waits.end("a", undefined);
    now += 10_001;
    waits.register("d", new AbortController()); // prunes: a's rest was too long
    expect(waits.ticket("a")).not.toBe(a);
  });
});

describe("POST /v1/waits/cancel", () => {
  it("ends a wait at once with 503 CLOSED; an id cancelled before its wait arrives ends that wait as it arrives", async () => {
    const { server, main } = await setup();
    const { id } = await main.info();
    const waiting = post(server.url, ROUTES.queueGet, { id, n: 1, timeoutMs: 60_000, waitId: "w1" });
    await sleep(20);
    expect(await post(server.url, ROUTES.waitsCancel, { waitIds: ["w1", "unknown"] })).toEqual({ status: 200, body: {} });
    const answer = await waiting;
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ code: "CLOSED" });

    expect((await post(server.url, ROUTES.waitsCancel, { waitIds: ["early"] })).status).toBe(200);
    const late = await post(server.url, ROUTES.queueGet, { id, n: 1, timeoutMs: 60_000, waitId: "early" });
    expect(late.status).toBe(503);
    // Nothing was taken by either.
    await main.put(1);
    expect(await main.len()).toBe(1);
  });

  it("refuses malformed cancels and wait ids with 400 INVALID", async () => {
    const { server, main } = await setup();
    const { id } = await main.info();
    for (const body of [{}, { waitIds: "w" }, { waitIds: [1] }, { waitIds: [""] }, { waitIds: ["x".repeat(65)] }]) {
      const answer = await post(server.url, ROUTES.waitsCancel, body);
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: "INVALID" });
    }
    const tooMany = await post(server.url, ROUTES.waitsCancel, { waitIds: Array.from({ length: 1025 }, (_, i) => `w${i}`) });
    expect(tooMany.status).toBe(413);
    const nonAscii = await post(server.url, ROUTES.waitsCancel, { waitIds: ["wait-é"] });
    expect(nonAscii.status).toBe(400);
    for (const waitId of [5, "", "y".repeat(65), "two words", "é"]) {
      const answer = await post(server.url, ROUTES.queueGet, { id, n: 1, timeoutMs: 0, waitId });
      expect(answer.status).toBe(400);
    }
  });
});
