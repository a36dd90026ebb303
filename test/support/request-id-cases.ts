// The request-id cases every backend passes (test/engine/request-ids.test.ts on LevelDB,
// test/engine/postgres-request-ids.test.ts on PostgreSQL): retried puts, gets, waits, dict
// writes and object calls answer their first outcome and change nothing again.

import { expect, it } from "vitest";
import type { Engine, EngineOptions } from "../../engine/index.ts";
import { NotFoundError } from "../../proto/errors.ts";
import { encodeKey } from "../../proto/keys.ts";
import type { ReservedItem } from "../../proto/backend.ts";
import { ManualClock } from "./clock.ts";

export interface RequestIdEnv {
  /** A new, empty place for a store (a folder, a schema). */
  folder(): Promise<string>;
  /** Opens a store at `path` (or a fresh place without one, `memory: true`), closed after the test. */
  opened(options: Pick<EngineOptions, "clock" | "requestIdRetentionMs"> & { path?: string; memory?: true }): Promise<Engine>;
  /** listEphemeral reports the store's ephemeral objects (not on PostgreSQL, where the table is the lease). */
  listsEphemeral: boolean;
}

export const bytes = (s: string): Uint8Array => Buffer.from(s);
export const text = (values: Uint8Array[]): string[] => values.map((v) => Buffer.from(v).toString());

export async function queueOf(engine: Engine): Promise<string> {
  return (await engine.getObject("queue", { name: "q", mode: "createIfMissing" })).id;
}

export async function dictOf(engine: Engine): Promise<string> {
  return (await engine.getObject("dict", { name: "d", mode: "createIfMissing" })).id;
}

export function requestIdCases(env: RequestIdEnv): void {
  const { folder, opened } = env;
  it("a retried put adds its items once, and a retried get returns the items it took, after a reopen too", async () => {
    const path = await folder();
    let engine = await opened({ path });
    const q = await queueOf(engine);
    await engine.queuePut(q, [bytes("a"), bytes("b")], { timeoutMs: 0 }, { requestId: "put-1" });
    await engine.queuePut(q, [bytes("a"), bytes("b")], { timeoutMs: 0 }, { requestId: "put-1", retry: true });
    await engine.queuePut(q, [bytes("c"), bytes("d")], { timeoutMs: 0 });
    expect(await engine.queueLen(q, {})).toBe(4);
    expect(text(await engine.queueGet(q, 2, { timeoutMs: 0 }, { requestId: "get-1" }))).toEqual(["a", "b"]);
    await engine.close();

    engine = await opened({ path });
    // The retry after a restart: the same items, and the queue keeps the rest.
    expect(text(await engine.queueGet(q, 2, { timeoutMs: 0 }, { requestId: "get-1", retry: true }))).toEqual(["a", "b"]);
    await engine.queuePut(q, [bytes("a"), bytes("b")], { timeoutMs: 0 }, { requestId: "put-1", retry: true });
    expect(await engine.queueLen(q, {})).toBe(2);
    expect(text(await engine.queueGet(q, 10, { timeoutMs: 0 }))).toEqual(["c", "d"]);
  });

  it("a retried reserve returns the same reservations, and a retried ack, release or extend its first answer, after a reopen too", async () => {
    const path = await folder();
    const clock = new ManualClock();
    let engine = await opened({ path, clock });
    const q = await queueOf(engine);
    await engine.queuePut(q, [bytes("a"), bytes("b"), bytes("c")], { timeoutMs: 0 });
    const first = await engine.queueReserve(q, 2, { timeoutMs: 0, leaseMs: 10_000 }, { requestId: "res-1" });
    const again = await engine.queueReserve(q, 2, { timeoutMs: 0, leaseMs: 10_000 }, { requestId: "res-1", retry: true });
    const plain = (list: ReservedItem[]) => list.map((r) => ({ ...r, value: Buffer.from(r.value).toString(), partition: r.partition ?? null }));
    expect(plain(again)).toEqual(plain(first));
    expect(text(first.map((r) => r.value))).toEqual(["a", "b"]);
    expect(await engine.queueExtend(q, first[1]!.token, 20_000, { requestId: "ext-1" })).toBe(clock.now() + 20_000);
    expect(await engine.queueAck(q, [first[0]!.token], { requestId: "ack-1" })).toEqual([]);
    await engine.close();

    engine = await opened({ path, clock });
    expect(plain(await engine.queueReserve(q, 2, { timeoutMs: 0 }, { requestId: "res-1", retry: true }))).toEqual(plain(first));
    expect(await engine.queueAck(q, [first[0]!.token], { requestId: "ack-1", retry: true })).toEqual([]);
    clock.advance(5);
    expect(await engine.queueExtend(q, first[1]!.token, 20_000, { requestId: "ext-1", retry: true })).toBe(clock.now() - 5 + 20_000);
    await engine.queueRelease(q, first[1]!.token, 0, { requestId: "rel-1" });
    // The lease it ended would make a second release LEASE_EXPIRED; the retry answers as the first did.
    await engine.queueRelease(q, first[1]!.token, 0, { requestId: "rel-1", retry: true });
    expect(text((await engine.queueReserve(q, 5, { timeoutMs: 0 })).map((r) => r.value))).toEqual(["b", "c"]);
  });

  it("a retry while the first attempt waits gets what that attempt is handed", async () => {
    const engine = await opened({ memory: true });
    const q = await queueOf(engine);
    const first = engine.queueGet(q, 1, { timeoutMs: 5_000 }, { requestId: "wait-1" });
    const retry = engine.queueGet(q, 1, { timeoutMs: 5_000 }, { requestId: "wait-1", retry: true });
    await engine.queuePut(q, [bytes("x"), bytes("y")], { timeoutMs: 0 });
    expect(text(await first)).toEqual(["x"]);
    expect(text(await retry)).toEqual(["x"]);
    expect(await engine.queueLen(q, {})).toBe(1);
  });

  it("a retry of an attempt still being written answers only once that attempt is durable", async () => {
    // Seen failing: the retry answered from the outcome the first attempt's receipt set
    // before its batch was written (order ["retry", "first"]).
    const engine = await opened({ path: await folder() });
    const q = await queueOf(engine);
    const order: string[] = [];
    const first = engine.queuePut(q, [bytes("a")], { timeoutMs: 0 }, { requestId: "dur-1" }).then(() => order.push("first"));
    const retry = engine.queuePut(q, [bytes("a")], { timeoutMs: 0 }, { requestId: "dur-1", retry: true }).then(() => order.push("retry"));
    await Promise.all([first, retry]);
    expect(order).toEqual(["first", "retry"]);
    expect(await engine.queueLen(q, {})).toBe(1);
  });

  it("a call that changed nothing records nothing: its retry runs", async () => {
    const engine = await opened({ memory: true });
    const q = await queueOf(engine);
    expect(await engine.queueGet(q, 1, { timeoutMs: 0 }, { requestId: "empty-1" })).toEqual([]);
    await engine.queuePut(q, [bytes("late")], { timeoutMs: 0 });
    expect(text(await engine.queueGet(q, 1, { timeoutMs: 0 }, { requestId: "empty-1", retry: true }))).toEqual(["late"]);
    // An error, too: NOT_FOUND on a dict that does not exist yet, then the retry runs.
    await expect(engine.deleteObject("dict", { name: "later", allowMissing: false }, { requestId: "del-1" })).rejects.toBeInstanceOf(NotFoundError);
    await engine.getObject("dict", { name: "later", mode: "createIfMissing" });
    await engine.deleteObject("dict", { name: "later", allowMissing: false }, { requestId: "del-1", retry: true });
    await expect(engine.getObject("dict", { name: "later", mode: "lookup" })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("dict put, pop, update and clear answer a retry with their first outcome and change nothing again", async () => {
    const path = await folder();
    let engine = await opened({ path });
    const d = await dictOf(engine);
    const k = encodeKey("k");
    expect(await engine.dictPut(d, k, bytes("1"), true, { requestId: "lock-1" })).toBe(true);
    // Another client's write in between: the retry must neither answer false nor overwrite it.
    await engine.dictPut(d, k, bytes("2"), false);
    expect(await engine.dictPut(d, k, bytes("1"), true, { requestId: "lock-1", retry: true })).toBe(true);
    expect(Buffer.from((await engine.dictGet(d, k))!).toString()).toBe("2");
    expect(Buffer.from((await engine.dictPop(d, k, { requestId: "pop-1" }))!).toString()).toBe("2");
    await engine.dictUpdate(d, [[encodeKey("u"), bytes("u1")]], { requestId: "upd-1" });
    await engine.dictPut(d, encodeKey("u"), bytes("u2"), false);
    await engine.dictClear(d, { requestId: "clear-1" });
    await engine.dictPut(d, encodeKey("after"), bytes("kept"), false);
    await engine.close();

    engine = await opened({ path });
    expect(Buffer.from((await engine.dictPop(d, k, { requestId: "pop-1", retry: true }))!).toString()).toBe("2");
    await engine.dictUpdate(d, [[encodeKey("u"), bytes("u1")]], { requestId: "upd-1", retry: true });
    await engine.dictClear(d, { requestId: "clear-1", retry: true });
    expect(await engine.dictGet(d, encodeKey("u"))).toBeUndefined();
    expect(Buffer.from((await engine.dictGet(d, encodeKey("after")))!).toString()).toBe("kept");
    expect(await engine.dictLen(d)).toBe(1);
  });

  it("objects: a retried create returns the same object, a retried delete resolves", async () => {
    const engine = await opened({ memory: true });
    const made = await engine.getObject("queue", { name: "once", mode: "createFailIfExists" }, { requestId: "mk-1" });
    const again = await engine.getObject("queue", { name: "once", mode: "createFailIfExists" }, { requestId: "mk-1", retry: true });
    expect(again.id).toBe(made.id);
    const eph = await engine.getObject("dict", { mode: "ephemeral" }, { requestId: "eph-1" });
    const eph2 = await engine.getObject("dict", { mode: "ephemeral" }, { requestId: "eph-1", retry: true });
    expect(eph2.id).toBe(eph.id);
    if (env.listsEphemeral) expect((await engine.listEphemeral()).length).toBe(1);
    await engine.deleteObject("queue", { name: "once", allowMissing: false }, { requestId: "rm-1" });
    await engine.deleteObject("queue", { name: "once", allowMissing: false }, { requestId: "rm-1", retry: true });
    await engine.deleteObjectById("dict", eph.id, { requestId: "rm-2" });
    await engine.deleteObjectById("dict", eph.id, { requestId: "rm-2", retry: true });
    await expect(engine.deleteObjectById("dict", eph.id)).rejects.toBeInstanceOf(NotFoundError);
  });
}
