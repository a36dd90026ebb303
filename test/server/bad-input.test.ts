// Bad input at the HTTP edge: malformed, truncated and oversize bodies, wrong content types,
// unknown routes and methods, wrong field types, invalid names and partitions, oversize
// items. Each is answered with a 4xx and a code, the server keeps serving, and the data
// stored before is unchanged.

import { connect as netConnect } from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "undici";
import type { Dict, Queue } from "../../proto/api.ts";
import { InvalidError, RequestSizeError } from "../../proto/errors.ts";
import { ROUTES } from "../../proto/calls.ts";
import { MSGPACK_TYPE, packEnvelope } from "../../proto/wire.ts";
import { encodeKey } from "../../proto/keys.ts";
import { encodeValue } from "../../proto/values.ts";
import { expectError } from "../conformance/expect-error.ts";
import { remoteStore, type RemoteStore } from "../support/remote-store.ts";

const LIMITS = { queueItemBytesMax: 1024, dictValueBytesMax: 2048, dictKeyBytesMax: 64, dictUpdateEntriesMax: 4, queuePartitionItemsMax: 8 };

let store: RemoteStore;
let dict: Dict<string, number>;
let queue: Queue<string>;

async function post(path: string, body: Buffer | string | Readable, headers: Record<string, string> = { "content-type": MSGPACK_TYPE }) {
  const res = await request(`${store.url}${path}`, { method: "POST", body, headers });
  const text = await res.body.text();
  return { status: res.statusCode, type: String(res.headers["content-type"]), body: text ? JSON.parse(text) : undefined };
}

async function expectAnswer(answer: Promise<{ status: number; type: string; body: unknown }>, status: number, code: string): Promise<void> {
  const { status: got, type, body } = await answer;
  expect({ status: got, code: (body as { code?: string })?.code }).toEqual({ status, code });
  expect(type).toBe("application/json");
  expect(typeof (body as { message?: unknown }).message).toBe("string");
}

async function snapshot(): Promise<unknown> {
  const entries: Array<[string, number]> = [];
  for await (const entry of dict.items()) entries.push(entry);
  const items: string[] = [];
  for await (const v of queue.iterate()) items.push(v);
  const objects = [(await store.dicts.list()).map((o) => o.name), (await store.queues.list()).map((o) => o.name)];
  return { entries, items, objects, len: await queue.len({ total: true }) };
}

let before: unknown;

beforeAll(async () => {
  store = await remoteStore({ limits: LIMITS });
  dict = await store.dicts.fromName("d", { createIfMissing: true });
  await dict.update({ a: 1, b: 2 });
  queue = await store.queues.fromName("q", { createIfMissing: true });
  await queue.putMany(["x", "y"]);
  await queue.put("z", { partition: "p" });
  before = await snapshot();
});

afterAll(async () => {
  // The server still serves, and nothing of the rejected calls was written.
  expect(await snapshot()).toEqual(before);
  await store.close();
});

const dictPut = ROUTES.dictPut;

describe("the HTTP edge refuses bad input with a 4xx and a code", () => {
  it("malformed MessagePack is 400 INVALID", async () => {
    await expectAnswer(post(dictPut, Buffer.from([0xc1])), 400, "INVALID");
    await expectAnswer(post(dictPut, Buffer.from("not msgpack at all")), 400, "INVALID");
    await expectAnswer(post(dictPut, Buffer.alloc(0)), 400, "INVALID");
    await expectAnswer(post(dictPut, Buffer.from([0xc7, 0x01, 0x72, 0x00])), 400, "INVALID");
  });

  it("a truncated body and trailing bytes are 400 INVALID", async () => {
    const { id } = await dict.info();
    const whole = packEnvelope({ id, key: encodeKey("c"), value: encodeValue(3) });
    await expectAnswer(post(dictPut, whole.subarray(0, whole.length - 2)), 400, "INVALID");
    await expectAnswer(post(dictPut, Buffer.concat([whole, Buffer.from([0x01])])), 400, "INVALID");
  });

  it("a body that is not a map is 400 INVALID", async () => {
    for (const value of [[1, 2], "str", 5, null, Buffer.from("bin")]) {
      await expectAnswer(post(dictPut, packEnvelope({ v: value }).subarray(3)), 400, "INVALID");
    }
  });

  it("fields of the wrong type are 400 INVALID", async () => {
    const { id } = await dict.info();
    const key = encodeKey("c");
    const value = encodeValue(3);
    await expectAnswer(post(dictPut, packEnvelope({ id: 5, key, value })), 400, "INVALID");
    await expectAnswer(post(dictPut, packEnvelope({ id, key: "c", value })), 400, "INVALID");
    await expectAnswer(post(dictPut, packEnvelope({ id, key, value: [1] })), 400, "INVALID");
    await expectAnswer(post(dictPut, packEnvelope({ id, key, value, skipIfExists: "yes" })), 400, "INVALID");
    await expectAnswer(post(dictPut, packEnvelope({ id, key })), 400, "INVALID");
    await expectAnswer(post(ROUTES.dictUpdate, packEnvelope({ id, entries: [[key]] })), 400, "INVALID");
    await expectAnswer(post(ROUTES.getObject, packEnvelope({ kind: "table", name: "t", environment: "main", mode: "lookup" })), 400, "INVALID");
    await expectAnswer(post(ROUTES.getObject, packEnvelope({ kind: "dict", name: "t", environment: "main", mode: "sometimes" })), 400, "INVALID");
    await expectAnswer(post(ROUTES.queueGet, packEnvelope({ id: (await queue.info()).id, n: "1" })), 400, "INVALID");
  });

  it("a wrong or missing content type is 415 INVALID", async () => {
    const body = packEnvelope({ id: "x" });
    await expectAnswer(post(ROUTES.dictLen, body, { "content-type": "application/json" }), 415, "INVALID");
    await expectAnswer(post(ROUTES.dictLen, body, {}), 415, "INVALID");
    await expectAnswer(post(ROUTES.dictLen, '{"id":"x"}', { "content-type": "text/plain" }), 415, "INVALID");
  });

  it("an unknown route is 404 NOT_FOUND; a wrong method is 405 INVALID", async () => {
    await expectAnswer(post("/v1/dict/explode", packEnvelope({})), 404, "NOT_FOUND");
    await expectAnswer(post("/", packEnvelope({})), 404, "NOT_FOUND");
    const res = await request(`${store.url}${ROUTES.dictGet}`, { method: "GET" });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe("POST");
    expect(await res.body.json()).toMatchObject({ code: "INVALID" });
  });

  it("a declared length over the route's bound is 413 TOO_LARGE before the body is read", async () => {
    // dict/len takes a 4 KiB envelope at most.
    await expectAnswer(post(ROUTES.dictLen, Buffer.alloc(64 * 1024)), 413, "TOO_LARGE");
    // queue/put's bound is 8 items of 1 KiB plus framing: 20 MiB is far past it.
    await expectAnswer(post(ROUTES.queuePut, Buffer.alloc(20 * 1024 * 1024)), 413, "TOO_LARGE");
  });

  it("a chunked body is refused as soon as it passes the bound", async () => {
    let sent = 0;
    const endless = new Readable({
      read() {
        sent += 16 * 1024;
        this.push(sent > 64 * 1024 * 1024 ? null : Buffer.alloc(16 * 1024));
      },
    });
    await expectAnswer(post(ROUTES.dictGet, endless), 413, "TOO_LARGE");
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it("a request cut off mid-body does not disturb the server", async () => {
    const { hostname, port } = new URL(store.url);
    await new Promise<void>((resolve, reject) => {
      const socket = netConnect(Number(port), hostname, () => {
        socket.write(`POST ${dictPut} HTTP/1.1\r\nHost: x\r\nContent-Type: ${MSGPACK_TYPE}\r\nContent-Length: 1000\r\n\r\n`);
        socket.write(packEnvelope({ id: "di-x" }).subarray(0, 4));
        socket.end();
      });
      socket.on("error", reject);
      socket.on("close", () => resolve());
      socket.resume();
    });
    expect(await dict.len()).toBe(2);
  });

  it("header names in any case count; a content type may carry parameters; the first of repeated content types counts", async () => {
    const { id } = await dict.info();
    const body = packEnvelope({ id });
    const head = (headers: string) => `POST ${ROUTES.dictLen} HTTP/1.1\r\nHost: x\r\n${headers}CONTENT-LENGTH: ${body.length}\r\n\r\n`;
    const answer = async (headers: string) => {
      const { hostname, port } = new URL(store.url);
      return new Promise<string>((resolve, reject) => {
        let received = "";
        const socket = netConnect(Number(port), hostname, () => socket.end(Buffer.concat([Buffer.from(head(headers), "latin1"), body])));
        socket.setEncoding("latin1");
        socket.on("data", (chunk: string) => (received += chunk));
        socket.on("error", reject);
        socket.on("close", () => resolve(received));
      });
    };
    expect(await answer(`cOnTeNt-TyPe: ${MSGPACK_TYPE}; charset=binary\r\n`)).toMatch(/^HTTP\/1\.1 200 /);
    expect(await answer(`Content-Type: application/x-msgpack\r\nContent-Type: text/plain\r\n`)).toMatch(/^HTTP\/1\.1 200 /);
    const refused = await answer(`Content-Type: text/plain\r\nContent-Type: ${MSGPACK_TYPE}\r\n`);
    expect(refused).toMatch(/^HTTP\/1\.1 415 /);
    expect(refused).toContain('"code":"INVALID"');
  });

  it("Expect: 100-continue gets 413 before any body is sent, and 100 Continue when the checks pass", async () => {
    const { id } = await dict.info();
    const tooBig = await rawExchange(`POST ${ROUTES.dictLen} HTTP/1.1\r\nHost: x\r\nContent-Type: ${MSGPACK_TYPE}\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n`, undefined, /\r\n\r\n\{.*\}$/s);
    expect(tooBig).toMatch(/^HTTP\/1\.1 413 /);
    expect(tooBig).toContain('"code":"TOO_LARGE"');
    const body = packEnvelope({ id });
    const ok = await rawExchange(`POST ${ROUTES.dictLen} HTTP/1.1\r\nHost: x\r\nContent-Type: ${MSGPACK_TYPE}\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`, body, /HTTP\/1\.1 200 /);
    expect(ok).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
  });

  it("invalid names, environments, partitions and timeouts are 400 INVALID", async () => {
    const { id } = await queue.info();
    for (const name of ["has space", "a".repeat(65), "", "ap-abcdefghABCDEFGH012345"]) {
      await expectAnswer(post(ROUTES.getObject, packEnvelope({ kind: "dict", name, environment: "main", mode: "createIfMissing" })), 400, "INVALID");
    }
    await expectAnswer(post(ROUTES.getObject, packEnvelope({ kind: "dict", name: "ok", environment: "x", mode: "createIfMissing" })), 400, "INVALID");
    for (const partition of ["", "p".repeat(65)]) {
      await expectAnswer(post(ROUTES.queuePut, packEnvelope({ id, values: [encodeValue(1)], partition })), 400, "INVALID");
      await expectAnswer(post(ROUTES.queueGet, packEnvelope({ id, n: 1, partition, timeoutMs: 0 })), 400, "INVALID");
    }
    for (const timeoutMs of [-1, Infinity, NaN]) {
      await expectAnswer(post(ROUTES.queueGet, packEnvelope({ id, n: 1, timeoutMs })), 400, "INVALID");
    }
    await expectAnswer(post(ROUTES.queueGet, packEnvelope({ id, n: 0, timeoutMs: 0 })), 400, "INVALID");
    // Through the client, the same errors arrive as the same classes.
    await expectError(store.queues.fromName("has space"), InvalidError);
    await expectError(queue.put("v", { partition: "" }), InvalidError);
    await expectError(queue.get({ timeoutMs: -5 }), InvalidError);
  });

  it("oversize items, values, keys and batches are 413 TOO_LARGE, and nothing is written", async () => {
    await expectError(queue.put("v".repeat(2000)), RequestSizeError);
    await expectError(queue.putMany(["ok", "v".repeat(2000)]), RequestSizeError);
    await expectError(queue.putMany(Array.from({ length: 9 }, () => "i")), RequestSizeError);
    await expectError(dict.put("big", "v".repeat(3000) as unknown as number), RequestSizeError);
    await expectError(dict.put("k".repeat(100), 1), RequestSizeError);
    await expectError(dict.update({ c: 1, d: 2, e: 3, f: 4, g: 5 }), RequestSizeError);
  });

  it("a big body with bytes after the envelope is 400 INVALID, without unpacking it", async () => {
    // msgpackr's own error for trailing bytes is a JSON dump of what it decoded: for a 255 MiB
    // put that ran the server out of memory. Bodies over 64 KiB are measured first.
    const answer = post(ROUTES.batch, Buffer.concat([packEnvelope({ calls: [], pad: Buffer.alloc(1 << 20, 7) }), Buffer.from([0xc0])]));
    await expectAnswer(answer, 400, "INVALID");
    expect((await answer).body.message).toMatch(/1 bytes after the envelope/);
  });

  it("a body of more MessagePack values than any call needs is 413 TOO_LARGE before it is unpacked", async () => {
    // 100 million empty items in a 200 MB put ran the server out of memory while unpacking.
    const nils = Buffer.alloc(1 << 20, 0xc0);
    const body = Buffer.concat([Buffer.from([0x82, 0xa5, ...Buffer.from("calls"), 0x90, 0xa3, ...Buffer.from("pad"), 0xdd, 0, 0x10, 0, 0]), nils]);
    const answer = post(ROUTES.batch, body);
    await expectAnswer(answer, 413, "TOO_LARGE");
    expect((await answer).body.message).toMatch(/MessagePack values/);
  });

  it("answers to requests without a body keep the connection open: two pipelined requests are both answered", async () => {
    const head = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n";
    const received = await rawExchange(head, undefined, /NOT_FOUND[\s\S]*\}/);
    expect(received.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(2);
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).not.toMatch(/connection: close/i);
  });

  it("a string that is not valid UTF-8 is 400 INVALID, not merged with another by the decoder", async () => {
    // The decoder reads bytes that are not UTF-8 as U+FFFD: "caf\xe9" and "caf\xe8" would
    // both be the partition "caf\ufffd", and a get of one would return the other's items.
    const { id } = await queue.info();
    const withPartition = (bytes: number[], fields: Record<string, unknown>): Buffer => {
      const envelope = packEnvelope({ id, ...fields, partition: "@@@@" });
      const at = envelope.indexOf(Buffer.from([0xa4, 0x40, 0x40, 0x40, 0x40]));
      const str = Buffer.from([0xa0 | bytes.length, ...bytes]);
      return Buffer.concat([envelope.subarray(0, at), str, envelope.subarray(at + 5)]);
    };
    for (const bytes of [[0x63, 0x61, 0x66, 0xe9], [0xed, 0xa0, 0x80], [0xff]]) {
      await expectAnswer(post(ROUTES.queuePut, withPartition(bytes, { values: [encodeValue("w")] })), 400, "INVALID");
      await expectAnswer(post(ROUTES.queueGet, withPartition(bytes, { n: 1, timeoutMs: 0 })), 400, "INVALID");
      const batch = packEnvelope({ calls: [[ROUTES.queueGet, { id, n: 1, timeoutMs: 0, partition: "@@@@" }]] });
      const at = batch.indexOf(Buffer.from([0xa4, 0x40, 0x40, 0x40, 0x40]));
      const bad = Buffer.concat([batch.subarray(0, at), Buffer.from([0xa0 | bytes.length, ...bytes]), batch.subarray(at + 5)]);
      await expectAnswer(post(ROUTES.batch, bad), 400, "INVALID");
    }
    // A real U+FFFD, sent as its UTF-8 bytes, is an ordinary character.
    const real = await store.queues.ephemeral();
    // The bytes are walked when a string holds U+FFFD: an empty string ending the body is valid too.
    const emptyLast = packEnvelope({ id: (await real.info()).id, values: [encodeValue("e")], partition: "caf\ufffd", note: "" });
    expect(emptyLast[emptyLast.length - 1]).toBe(0xa0);
    const put = await request(`${store.url}${ROUTES.queuePut}`, { method: "POST", body: emptyLast, headers: { "content-type": MSGPACK_TYPE } });
    await put.body.arrayBuffer();
    expect(put.statusCode).toBe(200);
    expect(await real.get({ partition: "caf\ufffd", timeoutMs: 0 })).toBe("e");
    await real.put("r", { partition: "caf\ufffd" });
    expect(await real.len({ partition: "caf\ufffd" })).toBe(1);
    expect(await real.get({ partition: "caf\ufffd", timeoutMs: 0 })).toBe("r");
    await real.close();
  });

  it("bytes that are not HTTP/1.1 get an answer with a code, then the connection closes", async () => {
    const cases: Array<[string, RegExp]> = [
      ["BROKEN REQUEST LINE\r\n\r\n", /^HTTP\/1\.1 400 [\s\S]*\{"code":"INVALID","message":"malformed HTTP\/1\.1 request[^"]*"\}$/],
      [`POST ${dictPut} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, /^HTTP\/1\.1 400 [\s\S]*"code":"INVALID"/],
      [`POST ${dictPut} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, /^HTTP\/1\.1 400 [\s\S]*"code":"INVALID"/],
      [`POST ${dictPut} HTTP/1.1\r\nHost: x\r\nContent-Type: ${MSGPACK_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`, /^HTTP\/1\.1 400 [\s\S]*"code":"INVALID"/],
      [`GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`, /^HTTP\/1\.1 431 [\s\S]*"code":"TOO_LARGE"/],
      [`POST ${dictPut} HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n`, /^HTTP\/1\.1 417 [\s\S]*"code":"INVALID"/],
      ["CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", /^HTTP\/1\.1 405 [\s\S]*"code":"INVALID"/],
    ];
    for (const [head, expected] of cases) {
      const received = await rawExchange(head, undefined, /\}$/);
      expect(received).toMatch(expected);
      expect(received).toMatch(/content-type: application\/json/i);
      expect(received).toMatch(/connection: close/i);
    }
  });

  it("a CONNECT whose client resets the connection does not take the server down", async () => {
    // Node hands a CONNECT's socket over without an error listener: an unhandled reset killed the process.
    const { hostname, port } = new URL(store.url);
    await new Promise<void>((resolve, reject) => {
      const socket = netConnect(Number(port), hostname, () => {
        socket.write("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n");
        setTimeout(() => {
          socket.resetAndDestroy();
          resolve();
        }, 50);
      });
      socket.on("error", reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await request(`${store.url}/v1/health`)).statusCode).toBe(200);
  });

  it("a good request followed by bad bytes on one connection: its answer is sent, then the error", async () => {
    // The put is carried out; its client must learn so, not read the framing error as its answer.
    const scratch = await store.dicts.ephemeral();
    const { id } = await scratch.info();
    const body = packEnvelope({ id, key: encodeKey("k"), value: encodeValue(7) });
    const head = `POST ${dictPut} HTTP/1.1\r\nHost: x\r\nContent-Type: ${MSGPACK_TYPE}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const received = await rawExchange(Buffer.concat([Buffer.from(head, "latin1"), body, Buffer.from("BROKEN REQUEST LINE\r\n\r\n")]), undefined, /"code":"INVALID"[^}]*\}$/);
    expect(received.match(/HTTP\/1\.1 \d{3} /g)).toEqual(["HTTP/1.1 200 ", "HTTP/1.1 400 "]);
    expect(await (scratch as Dict<string, number>).get("k")).toBe(7);
    await scratch.close();
  });

  it("an absolute-form request target is served like its path", async () => {
    const { hostname, port } = new URL(store.url);
    const received = await rawExchange(`GET http://${hostname}:${port}/v1/health HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`, undefined, /\}$/);
    expect(received).toMatch(/^HTTP\/1\.1 200 [\s\S]*"status":"ok"/);
  });

  it("unknown ids are 404 NOT_FOUND", async () => {
    await expectAnswer(post(ROUTES.dictLen, packEnvelope({ id: "di-" + "a".repeat(22) })), 404, "NOT_FOUND");
    await expectAnswer(post(ROUTES.dictLen, packEnvelope({ id: "nonsense" })), 404, "NOT_FOUND");
  });
});

/**
 * Writes `head` on a raw connection; sends `body` only once the server said 100 Continue;
 * resolves with everything read once it matches `until`.
 */
function rawExchange(head: string | Buffer, body: Buffer | undefined, until: RegExp): Promise<string> {
  const { hostname, port } = new URL(store.url);
  return new Promise((resolve, reject) => {
    let received = "";
    let sentBody = false;
    const socket = netConnect(Number(port), hostname, () => socket.write(head));
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (body !== undefined && !sentBody && received.startsWith("HTTP/1.1 100 Continue\r\n\r\n")) {
        sentBody = true;
        socket.write(body);
      }
      if (until.test(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`connection closed; received: ${received}`)));
  });
}

describe("the value count bound leaves room for every call the limits allow", () => {
  it("a putMany of queuePartitionItemsMax items and an update of dictUpdateEntriesMax entries pass", async () => {
    const big = await remoteStore();
    try {
      const q = await big.queues.fromName<number>("q", { createIfMissing: true });
      await q.putMany(Array.from({ length: 5_000 }, (_, i) => i));
      expect(await q.len()).toBe(5_000);
      const d = await big.dicts.fromName<string, number>("d", { createIfMissing: true });
      await d.update(Array.from({ length: 10_000 }, (_, i): [string, number] => [`k${i}`, i]));
      expect(await d.len()).toBe(10_000);
    } finally {
      await big.close();
    }
  });
});
