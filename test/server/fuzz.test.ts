// Garbage in, never a crash and never a change to stored data: fast-check sends random
// bodies (random bytes, and random MessagePack maps whose fields hold random types, with
// real ids, names and encoded keys mixed in so requests get past the first checks) to
// every route of a real server. Every answer must be 200 or 4xx with a known code, never 5xx;
// the server must stay healthy; and a sentinel queue and dict written before the run must
// read back unchanged. Requests that validly write go to scratch objects only. The framed
// transport (`larder://`) gets the same: random byte streams after its hello, and random
// envelopes in call frames, many in flight on one connection.

import fc from "fast-check";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import type { Dict, Queue, Store } from "../../proto/api.ts";
import { ERRORS } from "../../proto/errors.ts";
import { encodeKey } from "../../proto/keys.ts";
import { encodeValue } from "../../proto/values.ts";
import { ROUTES } from "../../proto/calls.ts";
import { HEALTH_PATH, MSGPACK_TYPE, packEnvelope, unpackEnvelope } from "../../proto/wire.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { rawConnection } from "../support/wire-raw.ts";

const KNOWN_CODES = new Set(ERRORS.map((e) => e.code));
const RUNS = Number(process.env.FC_RUNS ?? 300);
/** A failure prints its seed; FC_SEED=<seed> replays that run. */
const SEED = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};

/** Numbers at the edges of timers, u32/u64 fields, safe integers and floats. */
const EDGE_NUMBERS = [
  -0, 0.5, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, 1e20, 1e300, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN, -1e300,
  -(2n ** 63n), 2n ** 64n - 1n,
];

describe("HTTP fuzz: random bodies to every route", () => {
  let server: LarderServer;
  let store: Store;
  let pool: Pool;
  let sentinelQueue: Queue<unknown>;
  let sentinelDict: Dict<string, unknown>;
  let scratchIds: { dict: string; queue: string };

  beforeAll(async () => {
    server = await startServer({ memory: true, port: 0, wirePort: 0, longPollMaxMs: 50, limits: { queuePartitionItemsMax: 50 } });
    store = await connect(server.url);
    pool = new Pool(server.url, { connections: 4 });
    sentinelQueue = await store.queues.fromName("sentinel", { createIfMissing: true });
    await sentinelQueue.putMany([1, "two", { three: 3 }]);
    await sentinelQueue.put("p", { partition: "side" });
    sentinelDict = await store.dicts.fromName<string, unknown>("sentinel", { createIfMissing: true });
    await sentinelDict.update({ a: 1, b: [2], c: new Map([[3, 3]]) });
    scratchIds = {
      dict: (await store.dicts.fromName("scratch", { createIfMissing: true })).id,
      queue: (await store.queues.fromName("scratch", { createIfMissing: true })).id,
    };
  });

  afterAll(async () => {
    await pool?.close();
    await store?.close();
    await server?.close();
  });

  async function send(path: string, body: Uint8Array, contentType = MSGPACK_TYPE): Promise<{ status: number; code?: string }> {
    const res = await pool.request({ path, method: "POST", headers: { "content-type": contentType }, body });
    const text = await res.body.text();
    if (res.statusCode === 200) return { status: 200 };
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { code?: string }).code;
    } catch {
      code = undefined;
    }
    return { status: res.statusCode, ...(code === undefined ? {} : { code }) };
  }

  function fieldValue(): fc.Arbitrary<unknown> {
    return fc.oneof(
      fc.constantFrom(scratchIds.dict, scratchIds.queue, "scratch", "main", "dict", "queue", "lookup", "ephemeral", "createIfMissing"),
      fc.constantFrom(encodeKey("k"), encodeValue(1), encodeValue("v"), new Uint8Array([0xc1]), new Uint8Array(0)),
      fc.string({ maxLength: 80 }),
      fc.integer(),
      fc.double(),
      // Numbers at the edges of timers, u32/u64 fields, safe integers and floats.
      fc.constantFrom(...EDGE_NUMBERS),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 64 }),
      fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 4 }),
      fc.array(fc.tuple(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 })), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }),
    );
  }

  const FIELDS = ["kind", "id", "name", "environment", "mode", "key", "value", "values", "entries", "partition", "partitionTtlMs",
    "timeoutMs", "n", "limit", "after", "values", "skipIfExists", "total", "all", "allowMissing", "maxObjects", "createdBefore",
    "pollTimeoutMs", "entryTtlMs"];

  // FUZZ_STATS=1 prints how many answers of each status and code the run produced.
  const seen = new Map<string, number>();
  afterAll(() => {
    if (process.env.FUZZ_STATS) console.log([...seen].sort());
  });

  function assertAnswer(answer: { status: number; code?: string }): void {
    const label = `${answer.status} ${answer.code ?? ""}`;
    seen.set(label, (seen.get(label) ?? 0) + 1);
    expect(answer.status, JSON.stringify(answer)).toBeLessThan(500);
    if (answer.status !== 200) expect(KNOWN_CODES.has(answer.code as never), JSON.stringify(answer)).toBe(true);
  }

  it("random bytes: 4xx with a code, never 5xx", async () => {
    const paths = Object.values(ROUTES);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.uint8Array({ maxLength: 300 }), async (path, bytes) => {
        assertAnswer(await send(path, bytes));
      }),
      { numRuns: RUNS, ...SEED },
    );
  }, 120_000);

  /** A valid body per route, aimed at the scratch objects; the fuzzer mutates it. */
  function template(route: string): Record<string, unknown> {
    const key = encodeKey("k");
    const value = encodeValue({ v: 1 });
    const d = { id: scratchIds.dict };
    const q = { id: scratchIds.queue };
    const templates: Record<string, Record<string, unknown>> = {
      getObject: { kind: "queue", name: "scratch", environment: "main", mode: "createIfMissing" },
      getObjectById: { kind: "dict", ...d },
      listObjects: { kind: "queue", environment: "main", maxObjects: 5 },
      heartbeat: { kind: "queue", ...q },
      dictGet: { ...d, key },
      dictContains: { ...d, key },
      dictPop: { ...d, key },
      dictPut: { ...d, key, value, skipIfExists: false },
      dictUpdate: { ...d, entries: [[key, value]] },
      dictLen: { ...d },
      dictClear: { ...d },
      dictScan: { ...d, limit: 10, values: true },
      queuePut: { ...q, values: [value], partition: "p", partitionTtlMs: 60_000, timeoutMs: 0 },
      queueGet: { ...q, n: 2, timeoutMs: 0 },
      queueLen: { ...q, total: true },
      queueClear: { ...q, partition: "p" },
      queueNext: { ...q, limit: 10, pollTimeoutMs: 0 },
      queueStats: { ...q },
      queuePartitions: { ...q, limit: 10 },
      batch: { calls: [[ROUTES.dictLen, d], [ROUTES.queueGet, { ...q, n: 1, timeoutMs: 0 }]] },
    };
    return { ...templates[route] };
  }

  const fuzzRoutes = (Object.keys(ROUTES) as Array<keyof typeof ROUTES>).filter((r) => r !== "deleteObject" && r !== "deleteObjectById");
  /** Up to 3 fields replaced, added or removed (made per test: field values name the scratch objects, made in beforeAll). */
  const mutation = () => fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.option(fieldValue(), { nil: undefined })), { maxLength: 3 });

  /** A route's valid body with random fields replaced, added or removed. */
  function mutated(route: keyof typeof ROUTES, changes: Array<[string, unknown]>): Record<string, unknown> {
    const body = template(route);
    for (const [field, value] of changes) {
      if (value === undefined) delete body[field];
      else body[field] = value;
    }
    // Writes that pass every check must land in the scratch objects, never the sentinels.
    if (body.id !== scratchIds.dict && body.id !== scratchIds.queue) body.id = route.startsWith("dict") ? scratchIds.dict : scratchIds.queue;
    if (body.name === "sentinel") body.name = "scratch";
    return body;
  }

  it("valid bodies with random fields replaced or added: 200 or 4xx with a code, never 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fuzzRoutes), mutation(), async (route, changes) => {
        assertAnswer(await send(ROUTES[route], packEnvelope(mutated(route, changes))));
      }),
      { numRuns: RUNS, ...SEED },
    );
  }, 120_000);

  it("batches of mutated calls: each reply is 200 or 4xx with a code, never 5xx", async () => {
    const call = fc.tuple(fc.constantFrom(...fuzzRoutes), mutation());
    await fc.assert(
      fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 8 }), async (calls) => {
        const body = packEnvelope({ calls: calls.map(([route, changes]) => [ROUTES[route], mutated(route, changes)]) });
        const res = await pool.request({ path: ROUTES.batch, method: "POST", headers: { "content-type": MSGPACK_TYPE }, body });
        const bytes = Buffer.from(await res.body.arrayBuffer());
        // A well-formed batch is always answered 200: whatever its calls do, each answers in its reply.
        expect(res.statusCode, bytes.toString()).toBe(200);
        const { replies } = unpackEnvelope(bytes) as { replies: Array<[number, { code?: string }]> };
        expect(replies.length).toBe(calls.length);
        for (const [status, answer] of replies) assertAnswer(status === 200 ? { status } : { status, code: answer.code });
      }),
      { numRuns: RUNS, ...SEED },
    );
  }, 120_000);

  // Random mutations reach a given (route, field, number) only now and then; this sweeps them all.
  it("every route with each field set to each edge number: 200 or 4xx with a code, never 5xx", async () => {
    let fresh = 0;
    for (const route of fuzzRoutes) {
      for (const field of new Set(FIELDS)) {
        if (field === "id") continue;
        for (const value of EDGE_NUMBERS) {
          // A new partition each time: puts create it (and its ttl entry) and never meet a full one.
          const body = { ...template(route), partition: `edge-${fresh++}`, [field]: value };
          const answer = await send(ROUTES[route], packEnvelope(body));
          expect(answer.status, `${route} ${field}=${String(value)}`).toBeLessThan(500);
          assertAnswer(answer);
        }
      }
    }
  }, 120_000);

  it("framed transport, random bytes after the hello: answers or one connection error, 4xx with a code, never 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const c = await rawConnection(server.wireUrl!);
        c.hello();
        c.write(bytes);
        c.end();
        await c.closed;
        for (const answer of c.answers) assertAnswer(answer.status === 200 ? { status: 200 } : { status: answer.status, code: answer.body.code as string });
      }),
      { numRuns: RUNS, ...SEED },
    );
  }, 120_000);

  it("framed transport, mutated calls in flight together on one connection: each 200 or 4xx with a code, never 5xx", async () => {
    const call = fc.tuple(fc.constantFrom(...fuzzRoutes), mutation());
    const c = await rawConnection(server.wireUrl!);
    c.hello();
    let nextId = 1;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(call, { minLength: 1, maxLength: 8 }), async (calls) => {
          const ids = calls.map(([route, changes]) => {
            const id = nextId++;
            c.call(id, ROUTES[route], mutated(route, changes));
            return id;
          });
          for (const id of ids) {
            const answer = await c.answer(id);
            assertAnswer(answer.status === 200 ? { status: 200 } : { status: answer.status, code: answer.body.code as string });
          }
        }),
        { numRuns: RUNS, ...SEED },
      );
      // None of it broke the framing: the connection is still open.
      expect(c.socket.destroyed).toBe(false);
    } finally {
      c.socket.destroy();
    }
  }, 120_000);

  it("after the fuzzing the server is healthy and the sentinel data is unchanged", async () => {
    const health = await pool.request({ path: HEALTH_PATH, method: "GET" });
    expect(health.statusCode).toBe(200);
    await health.body.dump();
    const items: unknown[] = [];
    for await (const v of sentinelQueue.iterate()) items.push(v);
    expect(items).toEqual([1, "two", { three: 3 }]);
    expect(await sentinelQueue.len({ partition: "side" })).toBe(1);
    expect(await sentinelQueue.len({ total: true })).toBe(4);
    const entries: Array<[string, unknown]> = [];
    for await (const e of sentinelDict.items()) entries.push(e as [string, unknown]);
    expect(entries).toEqual([["a", 1], ["b", [2]], ["c", new Map([[3, 3]])]]);
  });
});
