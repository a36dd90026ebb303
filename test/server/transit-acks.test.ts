// Acks carried by a call (server/transit.ts, docs/protocol.md "Got items in transit"): one
// refused for what it names fails nothing, one whose write failed fails the call, so that
// the client keeps the tokens and sends them again (review 2, T5). Seen failing without the
// fix: the call answered as done after its ack's write failed.

import { afterEach, describe, expect, it } from "vitest";
import { openEngine, type Engine } from "../../engine/index.ts";
import { InternalError } from "../../proto/errors.ts";
import { withAcks } from "../../server/transit.ts";

const engines: Engine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

async function queueWithItem(): Promise<{ engine: Engine; q: string; token: string }> {
  const engine = await openEngine({ memory: true, ephemeralAtOpen: "keep" });
  engines.push(engine);
  const q = (await engine.getObject("queue", { name: "q", mode: "createIfMissing" })).id;
  await engine.queuePut(q, [Buffer.from("a")], { timeoutMs: 0 });
  const [item] = await engine.queueReserve(q, 1, { timeoutMs: 0, leaseMs: 60_000 });
  return { engine, q, token: item!.token };
}

describe("acks carried by a call", () => {
  it("take the items away before the call runs, and fail nothing when refused", async () => {
    const { engine, q, token } = await queueWithItem();
    expect(await withAcks(engine, q, [token], () => engine.queueLen(q, {}))).toBe(0);
    // Acked again (gone: resolves), malformed, of a deleted queue: the call still answers.
    expect(await withAcks(engine, q, [token, "not-a-token"], async () => "answered")).toBe("answered");
    await engine.deleteObjectById("queue", q);
    expect(await withAcks(engine, q, [token], async () => "answered")).toBe("answered");
  });

  it("fail the call when the ack's write failed, so that its tokens are sent again", async () => {
    const { engine, q, token } = await queueWithItem();
    const failing = new Proxy(engine, {
      get: (target, name, receiver) =>
        name === "queueAck" ? () => Promise.reject(new InternalError("the ack's batch failed")) : Reflect.get(target, name, receiver),
    });
    await expect(withAcks(failing, q, [token], async () => "answered")).rejects.toThrow(/the ack's batch failed/);
    // The call's own failure still wins over the ack's.
    await expect(withAcks(failing, q, [token], async () => Promise.reject(new Error("the call failed")))).rejects.toThrow(/the call failed/);
  });
});
