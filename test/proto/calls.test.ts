// The table of calls (proto/calls.ts) is what the server routes, the remote client sends
// and checks, and the recovering wrapper forwards: every row has a method on each Backend,
// every route is served, and envelopes are read and answers checked by the rows' fields.

import { describe, expect, it } from "vitest";
import { RemoteBackend } from "../../client/index.ts";
import { checkReply } from "../../client/replies.ts";
import { LevelEngine } from "../../engine/engine.ts";
import { CALLS, CALL_NAMES, ROUTES, isRetrySafe, mayWait } from "../../proto/calls.ts";
import { InternalError, InvalidError } from "../../proto/errors.ts";
import { decoder } from "../../server/envelope.ts";
import { RecoveringEngine } from "../../server/recovering.ts";
import { ROUTES_BY_PATH } from "../../server/routes.ts";

function methods(proto: object): string[] {
  return Object.getOwnPropertyNames(proto).filter((name) => name !== "constructor" && typeof (proto as Record<string, unknown>)[name] === "function");
}

describe("the table of calls", () => {
  it("has a method on every Backend for each row, and the remote client has no call without a row", () => {
    for (const proto of [LevelEngine.prototype, RemoteBackend.prototype, RecoveringEngine.prototype]) {
      for (const name of CALL_NAMES) expect(typeof (proto as unknown as Record<string, unknown>)[name], name).toBe("function");
    }
    const remoteOnly = methods(RemoteBackend.prototype).filter((name) => !(CALL_NAMES as string[]).includes(name));
    // `call` sends a row's envelope; `onQueue` is `call` for a queue's rows, carrying the acks
    // of gets received (client/received.ts); neither is a call of its own.
    expect(remoteOnly.sort()).toEqual(["call", "close", "onQueue"]);
  });

  it("is every route the server serves", () => {
    expect([...ROUTES_BY_PATH.keys()].sort()).toEqual(Object.values(ROUTES).sort());
    for (const [path, route] of ROUTES_BY_PATH) expect(ROUTES[route.name]).toBe(path);
  });

  it("decides retries and waits from the envelope where the row says so", () => {
    expect(isRetrySafe("dictGet", {})).toBe(true);
    expect(isRetrySafe("dictPut", {})).toBe(false);
    expect(isRetrySafe("getObject", { mode: "lookup" })).toBe(true);
    expect(isRetrySafe("getObject", { mode: "ephemeral" })).toBe(false);
    expect(mayWait("queueGet", { timeoutMs: 0 })).toBe(false);
    expect(mayWait("queueGet", {})).toBe(true);
    expect(mayWait("queuePut", { timeoutMs: 5 })).toBe(true);
    expect(mayWait("queueNext", { pollTimeoutMs: 0 })).toBe(false);
    expect(mayWait("queueNext", { pollTimeoutMs: 1 })).toBe(true);
    expect(mayWait("dictGet", { timeoutMs: 5 })).toBe(false);
  });

  it("reads a request by its row: optional fields undefined, an absent bool? false, a nil as absent", () => {
    const decode = decoder(CALLS.dictScan.request);
    const key = new Uint8Array([1, 2]);
    expect(decode({ id: "di-x", limit: 3 })).toEqual({ id: "di-x", after: undefined, limit: 3, values: false });
    expect(decode({ id: "di-x", after: key, limit: 3, values: true, other: 1 })).toEqual({ id: "di-x", after: key, limit: 3, values: true });
    expect(decode({ id: "di-x", after: null, limit: 3, values: null })).toEqual({ id: "di-x", after: undefined, limit: 3, values: false });
  });

  it("refuses a request field of the wrong type or missing, naming it", () => {
    const decode = decoder(CALLS.getObject.request);
    const ok = { kind: "dict", name: "n", mode: "lookup" };
    expect(decode(ok)).toEqual({ requestId: undefined, retry: false, kind: "dict", name: "n", environment: undefined, mode: "lookup", entryTtlMs: undefined });
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...ok, kind: "table" }, /'kind'/],
      [{ ...ok, mode: "sometimes" }, /'mode'/],
      [{ ...ok, name: 7 }, /'name' must be a string/],
      [{ ...ok, entryTtlMs: "1" }, /'entryTtlMs' must be a number/],
      [{ name: "n", mode: "lookup" }, /'kind' is required/],
    ];
    for (const [body, message] of cases) {
      expect(() => decode(body)).toThrow(InvalidError);
      expect(() => decode(body)).toThrow(message);
    }
    expect(() => decoder(CALLS.dictUpdate.request)({ id: "d", entries: [[new Uint8Array(1)]] })).toThrow(InvalidError);
    expect(() => decoder(CALLS.queuePut.request)({ id: "q", values: ["x"] })).toThrow(/'values\[\]' must be bin/);
  });

  it("checks an answer by its row: typed fields, nil optional fields as undefined, INTERNAL for a misfit", () => {
    expect(checkReply("dictGet", { value: null })).toEqual({ value: undefined });
    expect(checkReply("dictLen", { len: 4 })).toEqual({ len: 4 });
    const object = { id: "di-1", kind: "dict", name: null, environment: "main", createdAt: 1, ephemeral: true };
    expect(checkReply("getObjectById", { object })).toEqual({ object: { ...object, name: undefined, entryTtlMs: undefined } });
    // A partition's absent key is the default partition, its absent expiry never.
    expect(checkReply("queuePartitions", { partitions: [{ len: 2, reserved: 1 }, { partition: "p", len: 1, reserved: 0, expiresAt: 5 }], more: true })).toEqual({
      partitions: [{ partition: undefined, len: 2, reserved: 1, expiresAt: Infinity }, { partition: "p", len: 1, reserved: 0, expiresAt: 5 }],
      more: true,
    });
    const misfits: Array<[Parameters<typeof checkReply>[0], Record<string, unknown>]> = [
      ["dictGet", { value: "x" }],
      ["dictLen", {}],
      ["dictPut", { written: 1 }],
      ["dictScan", { entries: [[new Uint8Array(1)]], more: false }],
      ["queueGet", { values: [new Uint8Array(1), 2] }],
      ["queueNext", { items: [{ value: new Uint8Array(1) }] }],
      ["listObjects", { objects: [{ id: "x" }] }],
      ["queuePartitions", { partitions: [{ len: 1 }], more: false }],
      ["queuePartitions", { partitions: [{ partition: 7, len: 1, reserved: 0 }], more: false }],
      ["queuePartitions", { partitions: [], more: "no" }],
    ];
    for (const [name, reply] of misfits) expect(() => checkReply(name, reply), name).toThrow(InternalError);
  });
});
