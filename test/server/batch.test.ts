// Batches (docs/protocol.md, "Batches"): the client sends calls made while
// requestsInFlightMax requests are in flight together as one `POST /v1/batch`; each call
// gets its own answer or its own error class; the server refuses malformed batches as a
// whole and bad calls one by one; and after a broken connection each call of a batch is
// retried, or not, by its own rules.

import { createServer as createHttpServer } from "node:http";
import { Pool, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import type { Store } from "../../proto/api.ts";
import { AlreadyExistsError, InvalidError, KeyError, NotFoundError, QueueFullError, UnavailableError } from "../../proto/errors.ts";
import { encodeKey } from "../../proto/keys.ts";
import { decodeValue, encodeValue } from "../../proto/values.ts";
import { ROUTES } from "../../proto/calls.ts";
import { BATCH_CALLS_MAX, BATCH_REPLY_WHOLE_BYTES_MAX, MSGPACK_TYPE, packBatch, packEnvelope, unpackEnvelope } from "../../proto/wire.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { BATCH_READ_BYTES_MAX } from "../../server/routes.ts";
import { expectError } from "../conformance/expect-error.ts";
import { proxy as startProxy, type Proxy } from "../support/proxy.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(limits = {}): Promise<LarderServer> {
  const s = await startServer({ memory: true, port: 0, limits });
  cleanups.push(() => s.close());
  return s;
}

async function client(url: string, requestsInFlightMax: number, retryTimeoutMs = 5_000): Promise<Store> {
  const store = await connect(url, { requestsInFlightMax, retryTimeoutMs });
  cleanups.push(() => store.close());
  return store;
}

/** The proxy of test/support/proxy.ts, closed after each test. */
function proxy(target: string): Promise<Proxy> {
  return startProxy(target, cleanups);
}

async function post(url: string, path: string, body: Buffer): Promise<{ status: number; body: unknown }> {
  const res = await request(`${url}${path}`, { method: "POST", body, headers: { "content-type": MSGPACK_TYPE } });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const type = String(res.headers["content-type"]);
  return { status: res.statusCode, body: type.startsWith("application/json") ? JSON.parse(bytes.toString()) : unpackEnvelope(bytes) };
}

describe("the client batches calls made while requestsInFlightMax requests are in flight", () => {
  it("64 concurrent calls with one request in flight go in a few batches, each call with its own answer", async () => {
    const s = await server();
    const p = await proxy(s.url);
    const store = await client(p.url, 1);
    const d = await store.dicts.fromName<string, number>("d", { createIfMissing: true });
    p.requests.clear();
    const written = await Promise.all(Array.from({ length: 64 }, (_, i) => d.put(`k${i}`, i, { skipIfExists: i % 2 === 1 && i > 32 })));
    expect(written.every((w) => w === true)).toBe(true);
    const got = await Promise.all(Array.from({ length: 64 }, (_, i) => d.get(`k${i}`)));
    expect(got).toEqual(Array.from({ length: 64 }, (_, i) => i));
    const batches = p.requests.get(ROUTES.batch) ?? 0;
    const singles = p.requests.get(ROUTES.dictPut)! + p.requests.get(ROUTES.dictGet)!;
    expect(batches).toBeGreaterThanOrEqual(2);
    expect(batches + singles).toBeLessThan(16);
  });

  it("with requestsInFlightMax Infinity every call is a request of its own", async () => {
    const s = await server();
    const p = await proxy(s.url);
    const store = await client(p.url, Infinity);
    const d = await store.dicts.fromName<string, number>("d", { createIfMissing: true });
    p.requests.clear();
    await Promise.all(Array.from({ length: 64 }, (_, i) => d.put(`k${i}`, i)));
    expect(p.requests.get(ROUTES.batch)).toBeUndefined();
    expect(p.requests.get(ROUTES.dictPut)).toBe(64);
  });

  it("each call of a batch keeps its own result and error class", async () => {
    const s = await server({ queuePartitionItemsMax: 2 });
    const p = await proxy(s.url);
    const store = await client(p.url, 1);
    const d = await store.dicts.fromName<string, number>("d", { createIfMissing: true });
    const q = await store.queues.fromName<string>("q", { createIfMissing: true });
    await d.put("a", 1);
    await d.put("b", 2);
    await q.putMany(["x", "y"], { partition: "full" });
    p.requests.clear();
    // The first call goes alone; the others are made while it is in flight, so they go together.
    const calls = [
      d.len(),
      d.get("b"),
      expectError(store.dicts.fromName("missing"), NotFoundError),
      expectError(store.dicts.create("d"), AlreadyExistsError),
      expectError(d.pop("nope"), KeyError),
      expectError(q.put("z", { partition: "full", timeoutMs: 0 }), QueueFullError),
      q.put("w"),
      d.pop("a"),
      d.contains("a"),
    ];
    const results = await Promise.all(calls);
    expect(results[0]).toBe(2);
    expect(results[1]).toBe(2);
    expect(results[7]).toBe(1);
    expect(results[8]).toBe(false);
    expect(p.requests.get(ROUTES.batch)).toBeGreaterThanOrEqual(1);
    expect(await q.len({ partition: "full" })).toBe(2);
    expect(await q.get({ timeoutMs: 0 })).toBe("w");
  });

  it("after a batch's connection breaks, its calls are sent again and each takes effect once", async () => {
    const s = await server();
    const p = await proxy(s.url);
    const store = await client(p.url, 1);
    const d = await store.dicts.fromName<string, number>("d", { createIfMissing: true });
    const q = await store.queues.fromName<number>("q", { createIfMissing: true });
    await d.update({ a: 1, b: 2 });
    p.cutBatches = 1;
    const first = d.len();
    const gets = [d.get("a"), d.get("b"), d.contains("a")];
    // The server ran the batch; the puts' retries carry their request ids and are answered
    // from the records, so each item is in the queue once.
    const puts = [1, 2, 3].map((v) => q.put(v));
    const dictPut = d.put("job", 7);
    expect(await first).toBe(2);
    expect(await Promise.all(gets)).toEqual([1, 2, true]);
    await Promise.all(puts);
    await dictPut;
    expect(p.cutBatches).toBe(0);
    expect(await q.len()).toBe(3);
    expect(await q.getMany(10, { timeoutMs: 0 })).toEqual([1, 2, 3]);
    expect(await d.pop("job")).toBe(7);
    // Sent again, alone or batched: the retries reached the server.
    expect((p.requests.get(ROUTES.queuePut) ?? 0) + (p.requests.get(ROUTES.batch) ?? 0)).toBeGreaterThan(1);
  });

  it("without request ids, after a batch's connection breaks, only retry-safe calls are sent again", async () => {
    const s = await server();
    const p = await proxy(s.url);
    const store = await connect(p.url, { requestsInFlightMax: 1, retryTimeoutMs: 5_000, requestIds: false });
    cleanups.push(() => store.close());
    const d = await store.dicts.fromName<string, number>("d", { createIfMissing: true });
    const q = await store.queues.fromName<number>("q", { createIfMissing: true });
    await d.update({ a: 1, b: 2 });
    p.cutBatches = 1;
    const first = d.len();
    const gets = [d.get("a"), d.get("b"), d.contains("a")];
    const puts = [1, 2, 3].map(async (v) => {
      const err = await expectError(q.put(v), UnavailableError);
      expect(err.message).toMatch(/may or may not have taken effect/);
    });
    // A dict put is not repeated either: another client may pop the value in between, and
    // the repeat would bring it back (one put, two deliveries).
    const dictPut = expectError(d.put("job", 7), UnavailableError);
    expect(await first).toBe(2);
    expect(await Promise.all(gets)).toEqual([1, 2, true]);
    await Promise.all(puts);
    expect((await dictPut).message).toMatch(/may or may not have taken effect/);
    expect(p.cutBatches).toBe(0);
    // The server did run the batch: the puts were written, as the error warned they might be.
    expect(await q.len()).toBe(3);
    expect(await d.pop("job")).toBe(7);
    expect(p.requests.get(ROUTES.dictPut) ?? 0).toBe(0);
  });
});

describe("connect() option requestsInFlightMax", () => {
  it("takes a positive integer or Infinity; anything else is InvalidError", async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, -Infinity, "4"]) {
      await expectError(connect("http://127.0.0.1:1", { requestsInFlightMax: bad as number }), InvalidError);
    }
    for (const good of [1, 64, Infinity]) {
      const store = await connect("http://127.0.0.1:1", { requestsInFlightMax: good });
      await store.close();
    }
  });
});

describe("big calls", () => {
  it("a call over 64 KiB takes no request slot: small calls go on while it is in flight", async () => {
    const s = await server();
    const p = await proxy(s.url);
    const store = await client(p.url, 1);
    const d = await store.dicts.fromName<string, string>("d", { createIfMissing: true });
    await d.put("a", "small");
    p.holdPath = ROUTES.dictPut;
    const big = d.put("big", "x".repeat(100_000));
    // With the big put holding the one slot, these would wait until it answers, which it does only after them.
    expect(await Promise.all([d.get("a"), d.get("a"), d.contains("a")])).toEqual(["small", "small", true]);
    p.release();
    expect(await big).toBe(true);
  });
});

describe("batch answers bigger than BATCH_REPLY_WHOLE_BYTES_MAX", () => {
  // Such an answer leaves the server one reply at a time and the client reads it one reply
  // at a time. Whole, 64 gets of a 70 MiB value came to 4.4 GB, more than a Buffer holds:
  // the server failed the batch with INTERNAL after running it, losing any pops in it.
  const MiB = 1024 * 1024;
  const big = (i: number): Buffer => Buffer.alloc(3 * MiB, i);

  it("gets and pops of big values in one batch each come back whole, and nothing is lost", async () => {
    const s = await server();
    const p = await proxy(s.url);
    const store = await client(p.url, 1);
    const d = await store.dicts.fromName<string, Buffer>("d", { createIfMissing: true });
    for (let i = 0; i < 12; i++) await d.put(`k${i}`, big(i));
    p.requests.clear();
    // 12 calls, one request in flight: 11 go as one batch, whose answer is about 33 MiB.
    expect(11 * 3 * MiB).toBeGreaterThan(BATCH_REPLY_WHOLE_BYTES_MAX);
    const got = await Promise.all(Array.from({ length: 12 }, (_, i) => d.get(`k${i}`)));
    got.forEach((value, i) => expect(value!.equals(big(i))).toBe(true));
    const popped = await Promise.all(Array.from({ length: 12 }, (_, i) => d.pop(`k${i}`)));
    popped.forEach((value, i) => expect(value.equals(big(i))).toBe(true));
    expect(await d.len()).toBe(0);
    expect(p.requests.get(ROUTES.batch)).toBeGreaterThanOrEqual(2);
  });

  it("getMany calls of big items in one batch share the items out exactly once, in order", async () => {
    const s = await server();
    const p = await proxy(s.url);
    const store = await client(p.url, 1);
    const q = await store.queues.fromName<Buffer>("q", { createIfMissing: true });
    const item = (i: number): Buffer => Buffer.alloc(200 * 1024, i % 256);
    for (let i = 0; i < 400; i += 50) await q.putMany(Array.from({ length: 50 }, (_, j) => item(i + j)));
    p.requests.clear();
    // 8 calls of 50 items of 200 KiB, one request in flight: a batch of 7 answers about 70 MiB.
    const parts = await Promise.all(Array.from({ length: 8 }, () => q.getMany(50, { timeoutMs: 0 })));
    const all = parts.flat();
    expect(all).toHaveLength(400);
    all.forEach((value, i) => expect(value.equals(item(i))).toBe(true));
    expect(await q.len()).toBe(0);
    expect(p.requests.get(ROUTES.batch)).toBeGreaterThanOrEqual(1);
  });
});

describe("a batch's reads of values are bounded by BATCH_READ_BYTES_MAX", () => {
  // Started together, 1,024 gets of a 100 MiB value in one small request would make the
  // server hold 100 GB. Reads run in turn, and stop once their answers pass the budget; the
  // client sends the rest on their own.
  const MiB = 1024 * 1024;
  const value = Buffer.alloc(10 * MiB, 7);

  it("the server answers the reads past the budget with resend: alone, and runs the other calls", async () => {
    const s = await server();
    const store = await client(s.url, 1);
    const d = await store.dicts.fromName<string, Buffer | number>("d", { createIfMissing: true });
    await d.put("big", value);
    const { id } = await d.info();
    const get = { path: ROUTES.dictGet, body: packEnvelope({ id, key: encodeKey("big") }) };
    const put = { path: ROUTES.dictPut, body: packEnvelope({ id, key: encodeKey("small"), value: encodeValue(1) }) };
    const { status, body } = await post(s.url, ROUTES.batch, packBatch([...Array.from({ length: 10 }, () => get), put]));
    expect(status).toBe(200);
    const replies = (body as { replies: Array<[number, Record<string, unknown>]> }).replies;
    // Reads start while less than 64 MiB has been read: 7 of 10 MiB each.
    expect(BATCH_READ_BYTES_MAX).toBe(64 * MiB);
    expect(replies.map(([code, answer]) => [code, answer.resend])).toEqual([
      ...Array.from({ length: 7 }, () => [200, undefined]),
      ...Array.from({ length: 3 }, () => [503, "alone"]),
      [200, undefined],
    ]);
    for (const [, answer] of replies.slice(0, 7)) expect((decodeValue(answer.value as Uint8Array) as Buffer).equals(value)).toBe(true);
    expect(replies[7]![1].code).toBe("UNAVAILABLE");
    expect(await d.get("small")).toBe(1);
  });

  it("the client sends the reads left out again on their own: every get returns the value", async () => {
    const s = await server();
    const p = await proxy(s.url);
    const store = await client(p.url, 1);
    const d = await store.dicts.fromName<string, Buffer>("d", { createIfMissing: true });
    await d.put("big", value);
    p.requests.clear();
    const got = await Promise.all(Array.from({ length: 12 }, () => d.get("big")));
    for (const v of got) expect(v!.equals(value)).toBe(true);
    // One alone, then a batch of 11 of which 7 are answered: 4 more requests of their own.
    expect(p.requests.get(ROUTES.batch)).toBe(1);
    expect(p.requests.get(ROUTES.dictGet)).toBe(5);
  });
});

describe("batches the server refuses as a whole", () => {
  it("a batch over the server's requestBytesMax is sent again call by call", async () => {
    const s = await startServer({ memory: true, port: 0, requestBytesMax: 16 * 1024 });
    cleanups.push(() => s.close());
    const p = await proxy(s.url);
    const store = await client(p.url, 1);
    const d = await store.dicts.fromName<string, string>("d", { createIfMissing: true });
    p.requests.clear();
    const value = "v".repeat(2_000);
    expect(await Promise.all(Array.from({ length: 30 }, (_, i) => d.put(`k${i}`, `${i}${value}`)))).toEqual(Array(30).fill(true));
    expect(await d.len()).toBe(30);
    expect(await d.get("k29")).toBe(`29${value}`);
    expect(p.requests.get(ROUTES.batch)).toBeGreaterThanOrEqual(1);
    // The first alone, then each call of the refused batch alone.
    expect(p.requests.get(ROUTES.dictPut)).toBe(30);
  });

  it("against a server without batches, the client falls back to one request per call", async () => {
    const s = await server();
    // A front that answers the batch route NOT_FOUND, as a server without it would, and passes the rest on.
    const upstream = new Pool(s.url);
    const front = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        if (req.url === ROUTES.batch) {
          res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ code: "NOT_FOUND", message: "no route" }));
          return;
        }
        const answer = await upstream.request({ path: req.url!, method: "POST", headers: { "content-type": MSGPACK_TYPE }, body: Buffer.concat(chunks) });
        res.writeHead(answer.statusCode, { "content-type": String(answer.headers["content-type"]) });
        res.end(Buffer.from(await answer.body.arrayBuffer()));
      });
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    cleanups.push(async () => {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
      await upstream.close();
    });
    const store = await client(`http://127.0.0.1:${(front.address() as { port: number }).port}`, 1);
    const q = await store.queues.fromName<number>("q", { createIfMissing: true });
    await Promise.all(Array.from({ length: 20 }, (_, i) => q.put(i)));
    await Promise.all(Array.from({ length: 20 }, (_, i) => q.put(i + 20)));
    expect((await q.getMany(100, { timeoutMs: 0 })).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

describe("POST /v1/batch at the edge", () => {
  async function dictId(s: LarderServer): Promise<string> {
    const reply = await post(s.url, ROUTES.getObject, packEnvelope({ kind: "dict", name: "d", environment: "main", mode: "createIfMissing" }));
    return ((reply.body as { object: { id: string } }).object).id;
  }

  const call = (path: string, envelope: Record<string, unknown>) => ({ path, body: packEnvelope(envelope) });

  it("answers each call in order with its status and body", async () => {
    const s = await server();
    const id = await dictId(s);
    const key = encodeKey("k");
    const { status, body } = await post(
      s.url,
      ROUTES.batch,
      packBatch([
        call(ROUTES.dictPut, { id, key, value: encodeValue(7) }),
        call(ROUTES.dictGet, { id, key }),
        call(ROUTES.dictGet, { id: "di-nosuchdict0000000000", key }),
        call("/v1/nope", {}),
        call(ROUTES.queueGet, { id, n: 1 }),
        call(ROUTES.batch, { calls: [] }),
        call(ROUTES.dictPut, { id, key: "not bin" }),
        call(ROUTES.dictLen, { id }),
      ]),
    );
    expect(status).toBe(200);
    const replies = (body as { replies: Array<[number, Record<string, unknown>]> }).replies;
    expect(replies.map(([code, answer]) => [code, answer.code])).toEqual([
      [200, undefined],
      [200, undefined],
      [404, "NOT_FOUND"],
      [404, "NOT_FOUND"],
      [400, "INVALID"],
      [400, "INVALID"],
      [400, "INVALID"],
      [200, undefined],
    ]);
    expect(replies[0]![1]).toEqual({ written: true });
    expect(decodeValue(replies[1]![1].value as Uint8Array)).toBe(7);
    expect(replies[4]![1].message).toMatch(/must not wait/);
    expect(replies[7]![1]).toEqual({ len: 1 });
  });

  it("runs the calls in the order given: queue puts in one batch are FIFO", async () => {
    const s = await server();
    const reply = await post(s.url, ROUTES.getObject, packEnvelope({ kind: "queue", name: "q", environment: "main", mode: "createIfMissing" }));
    const id = (reply.body as { object: { id: string } }).object.id;
    const values = Array.from({ length: 50 }, (_, i) => encodeValue(i));
    const puts = await post(s.url, ROUTES.batch, packBatch(values.map((v) => call(ROUTES.queuePut, { id, values: [v], timeoutMs: 0 }))));
    expect((puts.body as { replies: unknown[] }).replies).toEqual(values.map(() => [200, {}]));
    const got = await post(s.url, ROUTES.queueGet, packEnvelope({ id, n: 100, timeoutMs: 0 }));
    expect(((got.body as { values: Uint8Array[] }).values).map((v) => decodeValue(v))).toEqual(values.map((_, i) => i));
  });

  it("refuses a malformed batch as a whole with 400 INVALID, and too many calls with 413 TOO_LARGE", async () => {
    const s = await server();
    for (const calls of [undefined, "x", [1], [["/v1/dict/len"]], [["/v1/dict/len", "not a map"]], [[1, {}]], [["/v1/dict/len", {}, 3]]]) {
      const { status, body } = await post(s.url, ROUTES.batch, packEnvelope(calls === undefined ? {} : { calls }));
      expect({ status, code: (body as { code: string }).code }).toEqual({ status: 400, code: "INVALID" });
    }
    const many = packBatch(Array.from({ length: BATCH_CALLS_MAX + 1 }, () => call(ROUTES.dictLen, { id: "di-x" })));
    const { status, body } = await post(s.url, ROUTES.batch, many);
    expect({ status, code: (body as { code: string }).code }).toEqual({ status: 413, code: "TOO_LARGE" });
  });
});
