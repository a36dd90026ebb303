// Bearer-token auth: a missing or wrong token is 401 UNAUTHENTICATED (AuthError in the
// client) on every route but health, before the body is read, and nothing is read or written.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "undici";
import { connect } from "../../client/index.ts";
import type { Store } from "../../proto/api.ts";
import { AuthError, InvalidError } from "../../proto/errors.ts";
import { startServer } from "../../server/index.ts";
import { ROUTES } from "../../proto/calls.ts";
import { MSGPACK_TYPE, packEnvelope } from "../../proto/wire.ts";
import { encodeKey } from "../../proto/keys.ts";
import { encodeValue } from "../../proto/values.ts";
import { expectError } from "../conformance/expect-error.ts";
import { remoteStore, type RemoteStore } from "../support/remote-store.ts";

const TOKEN = "s3cret-token";
let owner: RemoteStore;
let dictId: string;
let queueId: string;

async function contents(): Promise<unknown> {
  const d = await owner.dicts.fromName<string, number>("d");
  const q = await owner.queues.fromName<string>("q");
  const entries = [];
  for await (const e of d.items()) entries.push(e);
  const items = [];
  for await (const v of q.iterate()) items.push(v);
  return { entries, items, dicts: (await owner.dicts.list()).length, queues: (await owner.queues.list()).length };
}

let before: unknown;

beforeAll(async () => {
  owner = await remoteStore({ server: { token: TOKEN }, client: { token: TOKEN } });
  const d = await owner.dicts.fromName<string, number>("d", { createIfMissing: true });
  await d.put("a", 1);
  const q = await owner.queues.fromName<string>("q", { createIfMissing: true });
  await q.put("x");
  dictId = d.id;
  queueId = q.id;
  before = await contents();
});

afterAll(async () => {
  expect(await contents()).toEqual(before);
  await owner.close();
});

async function everyCall(store: Store): Promise<void> {
  await expectError(store.dicts.fromName("d"), AuthError);
  await expectError(store.dicts.fromName("new", { createIfMissing: true }), AuthError);
  await expectError(store.dicts.fromId(dictId), AuthError);
  await expectError(store.queues.ephemeral(), AuthError);
  await expectError(store.dicts.list(), AuthError);
  await expectError(store.queues.delete("q"), AuthError);
  await expectError(store.dicts.create("other"), AuthError);
}

describe("bearer-token auth", () => {
  it("a client without a token gets AuthError for every call, and writes nothing", async () => {
    const store = await connect(owner.url);
    try {
      await everyCall(store);
    } finally {
      await store.close();
    }
  });

  it("a client with a wrong token gets AuthError for every call, and writes nothing", async () => {
    for (const token of ["wrong", TOKEN + "x", TOKEN.slice(0, -1)]) {
      const store = await connect(owner.url, { token });
      try {
        await everyCall(store);
      } finally {
        await store.close();
      }
    }
  });

  it("raw writes and reads without the right token are 401 UNAUTHENTICATED", async () => {
    const calls: Array<[string, Record<string, unknown>]> = [
      [ROUTES.dictPut, { id: dictId, key: encodeKey("b"), value: encodeValue(2) }],
      [ROUTES.dictClear, { id: dictId }],
      [ROUTES.dictPop, { id: dictId, key: encodeKey("a") }],
      [ROUTES.dictGet, { id: dictId, key: encodeKey("a") }],
      [ROUTES.queueGet, { id: queueId, n: 1, timeoutMs: 0 }],
      [ROUTES.queuePut, { id: queueId, values: [encodeValue("y")] }],
      [ROUTES.deleteObjectById, { kind: "queue", id: queueId }],
      ["/v1/no/such/route", {}],
    ];
    for (const authorization of [undefined, "Bearer wrong", `Basic ${TOKEN}`, TOKEN, "Bearer "]) {
      for (const [path, envelope] of calls) {
        const headers: Record<string, string> = { "content-type": MSGPACK_TYPE };
        if (authorization !== undefined) headers.authorization = authorization;
        const res = await request(`${owner.url}${path}`, { method: "POST", headers, body: packEnvelope(envelope) });
        expect(res.statusCode).toBe(401);
        expect(await res.body.json()).toMatchObject({ code: "UNAUTHENTICATED" });
      }
    }
  });

  it("the token is checked before the body is read: an oversize body still gets 401", async () => {
    const res = await request(`${owner.url}${ROUTES.dictLen}`, {
      method: "POST",
      headers: { "content-type": MSGPACK_TYPE },
      body: Buffer.alloc(8 * 1024 * 1024),
    });
    expect(res.statusCode).toBe(401);
    expect(await res.body.json()).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  it("the scheme name is case-insensitive and the right token works", async () => {
    const res = await request(`${owner.url}${ROUTES.dictLen}`, {
      method: "POST",
      headers: { "content-type": MSGPACK_TYPE, authorization: `bearer ${TOKEN}` },
      body: packEnvelope({ id: dictId }),
    });
    expect(res.statusCode).toBe(200);
  });
});

describe("tokens that cannot travel in a header", () => {
  // Non-ASCII characters, spaces and control characters cannot be sent back as the same
  // bytes in an Authorization header (and surrounding spaces are trimmed from it): a
  // server started with such a token could never be reached.
  const unusable = ["€uro", "s3cret ", " s3cret", "two words", "line\nbreak", "tab\t", ""];

  it("startServer refuses them with InvalidError", async () => {
    for (const token of unusable) {
      await expectError(startServer({ memory: true, port: 0, token }), InvalidError);
    }
  });

  it("connect refuses them with InvalidError, before any request", async () => {
    for (const token of unusable) {
      await expectError(connect("http://127.0.0.1:9", { token }), InvalidError);
    }
  });

  it("every visible ASCII character works", async () => {
    const token = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join("");
    const server = await startServer({ memory: true, port: 0, token });
    try {
      const store = await connect(server.url, { token });
      expect(await (await store.dicts.fromName("d", { createIfMissing: true })).len()).toBe(0);
      await store.close();
    } finally {
      await server.close();
    }
  });
});
