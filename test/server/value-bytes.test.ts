// docs/protocol.md: the HTTP wire carries the value format's bytes unchanged, so a client
// in another language that writes the format's bytes is read by the Node.js client, and the
// Node.js client's values arrive as the format's bytes. Each golden example of
// test/proto/golden-values.ts goes both ways through a real server on a real port.

import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import type { Store } from "../../proto/api.ts";
import { encodeKey } from "../../proto/keys.ts";
import { ROUTES } from "../../proto/calls.ts";
import { MSGPACK_TYPE, packEnvelope, unpackEnvelope } from "../../proto/wire.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { GOLDEN } from "../proto/golden-values.ts";

let server: LarderServer;
let store: Store;
let id: string;

async function post(path: string, envelope: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await request(`${server.url}${path}`, { method: "POST", body: packEnvelope(envelope), headers: { "content-type": MSGPACK_TYPE } });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  expect(res.statusCode, bytes.toString()).toBe(200);
  return unpackEnvelope(bytes) as Record<string, unknown>;
}

beforeAll(async () => {
  server = await startServer({ memory: true, port: 0 });
  store = await connect(server.url);
  id = (await (await store.dicts.fromName("wire", { createIfMissing: true })).info()).id;
});
afterAll(async () => {
  await store?.close();
  await server?.close();
});

describe("values on the wire are the value format's bytes", () => {
  for (const [label, value, hex] of GOLDEN) {
    it(`${label}: ${hex} written raw is read by the client, and the client's write is ${hex} raw`, async () => {
      const bytes = Buffer.from(hex.replace(/ /g, ""), "hex");
      const d = await store.dicts.fromName("wire");
      await post(ROUTES.dictPut, { id, key: encodeKey(`raw ${label}`), value: bytes });
      expect(await d.get(`raw ${label}`)).toStrictEqual(value);
      await d.put(`client ${label}`, value);
      const answer = await post(ROUTES.dictGet, { id, key: encodeKey(`client ${label}`) });
      expect(Buffer.from(answer["value"] as Uint8Array).toString("hex")).toBe(bytes.toString("hex"));
    });
  }
});
