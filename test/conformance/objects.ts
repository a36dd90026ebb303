// Object services, the same for both kinds: fromName, fromId, ephemeral, create, list,
// delete, info(), and how environments scope names. Translates Modal's test_queue_named /
// test_dict_named (lookup and delete parts), test_*_from_id*, test_*_list, test_*_create.

import { describe, expect, it } from "vitest";
import { AlreadyExistsError, InvalidError, NotFoundError } from "../../proto/errors.ts";
import { expectError } from "./expect-error.ts";
import type { Harness } from "./harness.ts";
import { ID_PREFIX, KINDS, service } from "./kinds.ts";
import { sleep } from "./waiting.ts";

export function objectsSuite(h: Harness): void {
  for (const kind of KINDS) {
    describe(`${kind}: object service`, () => {
      it("fromName of a missing name is NotFoundError", async () => {
        const objects = service(await h.make(), kind);
        await expectError(objects.fromName("missing"), NotFoundError);
      });

      it("fromName with createIfMissing creates once; later lookups find the same object", async () => {
        const objects = service(await h.make(), kind);
        const first = await objects.fromName("things", { createIfMissing: true });
        expect(first.name).toBe("things");
        expect(first.id.startsWith(ID_PREFIX[kind])).toBe(true);
        expect((await objects.fromName("things")).id).toBe(first.id);
        expect((await objects.fromName("things", { createIfMissing: true })).id).toBe(first.id);
      });

      it("ids are the kind's prefix followed by random characters, different per object", async () => {
        const objects = service(await h.make(), kind);
        const a = await objects.fromName("a", { createIfMissing: true });
        const b = await objects.fromName("b", { createIfMissing: true });
        const c = await objects.ephemeral();
        for (const handle of [a, b, c]) {
          expect(typeof handle.id).toBe("string");
          expect(handle.id.startsWith(ID_PREFIX[kind])).toBe(true);
          expect(handle.id.length).toBeGreaterThan(ID_PREFIX[kind].length);
        }
        expect(new Set([a.id, b.id, c.id]).size).toBe(3);
      });

      it("info() gives id, name, environment and createdAt", async () => {
        const objects = service(await h.make(), kind);
        const before = Date.now();
        const handle = await objects.fromName("described", { createIfMissing: true });
        const after = Date.now();
        const info = await handle.info();
        expect(info).toEqual({ id: handle.id, name: "described", environment: "main", createdAt: expect.any(Date) });
        expect(info.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
        expect(info.createdAt.getTime()).toBeLessThanOrEqual(after + 1_000);
      });

      it("ephemeral objects have no name and are not listed", async () => {
        const objects = service(await h.make(), kind);
        const eph = await objects.ephemeral();
        expect(eph.name).toBeUndefined();
        const info = await eph.info();
        expect(info.id).toBe(eph.id);
        expect(info.name).toBeUndefined();
        expect(info.environment).toBe("main");
        expect(await objects.list()).toEqual([]);
        const inDev = await objects.ephemeral({ environment: "dev" });
        expect((await inDev.info()).environment).toBe("dev");
      });

      it("closing an ephemeral handle deletes its object", async () => {
        const objects = service(await h.make(), kind);
        const eph = await objects.ephemeral();
        await objects.fromId(eph.id);
        await eph.close();
        await expectError(objects.fromId(eph.id), NotFoundError);
      });

      it("closing a handle to a named object does not delete it", async () => {
        const objects = service(await h.make(), kind);
        const handle = await objects.fromName("kept", { createIfMissing: true });
        await handle.close();
        expect((await objects.fromName("kept")).id).toBe(handle.id);
      });

      it("fromId finds named and ephemeral objects", async () => {
        const objects = service(await h.make(), kind);
        const named = await objects.fromName("by-id", { createIfMissing: true });
        const eph = await objects.ephemeral();
        const again = await objects.fromId(named.id);
        expect(again.id).toBe(named.id);
        expect(again.name).toBe("by-id");
        expect((await again.info()).name).toBe("by-id");
        const ephAgain = await objects.fromId(eph.id);
        expect(ephAgain.id).toBe(eph.id);
        expect(ephAgain.name).toBeUndefined();
      });

      it("fromId of an id that names no object is NotFoundError", async () => {
        const store = await h.make();
        const objects = service(store, kind);
        await expectError(objects.fromId(`${ID_PREFIX[kind]}nonexistent`), NotFoundError);
        await expectError(objects.fromId(`${ID_PREFIX[kind]}${"A".repeat(22)}`), NotFoundError);
        const otherKind = kind === "dicts" ? "queues" : "dicts";
        const other = await service(store, otherKind).fromName("other", { createIfMissing: true });
        await expectError(objects.fromId(other.id), NotFoundError);
      });

      it("create makes the object; again is AlreadyExistsError unless allowExisting", async () => {
        const objects = service(await h.make(), kind);
        expect(await objects.create("made")).toBeUndefined();
        const handle = await objects.fromName("made");
        await expectError(objects.create("made"), AlreadyExistsError);
        await objects.create("made", { allowExisting: true });
        expect((await objects.fromName("made")).id).toBe(handle.id);
        await objects.create("fresh", { allowExisting: true });
        await objects.fromName("fresh");
      });

      it("list gives named objects only, newest first, each with its info", async () => {
        const objects = service(await h.make(), kind);
        const made = [];
        for (let i = 0; i < 5; i++) {
          made.push(await objects.fromName(`test-${i}`, { createIfMissing: true }));
          await sleep(5);
        }
        await objects.ephemeral();
        const listed = await objects.list();
        expect(listed.map((o) => o.name)).toEqual(["test-4", "test-3", "test-2", "test-1", "test-0"]);
        expect(listed[0]).toEqual(await made[4]!.info());
        for (const info of listed) expect(info.createdAt).toBeInstanceOf(Date);
      });

      it("list: maxObjects keeps the newest, 0 gives none, negative is InvalidError", async () => {
        const objects = service(await h.make(), kind);
        for (let i = 0; i < 4; i++) {
          await objects.create(`n${i}`);
          await sleep(5);
        }
        expect((await objects.list({ maxObjects: 2 })).map((o) => o.name)).toEqual(["n3", "n2"]);
        expect((await objects.list({ maxObjects: 10 })).length).toBe(4);
        expect(await objects.list({ maxObjects: 0 })).toEqual([]);
        await expectError(objects.list({ maxObjects: -1 }), InvalidError);
      });

      it("list: createdBefore (Date, ISO string or ms) keeps objects created strictly before", async () => {
        const objects = service(await h.make(), kind);
        const handles = [];
        for (const name of ["old", "middle", "new"]) {
          handles.push(await objects.fromName(name, { createIfMissing: true }));
          await sleep(5);
        }
        const [, middle, newest] = await Promise.all(handles.map((x) => x.info()));
        const names = async (createdBefore: Date | string | number) =>
          (await objects.list({ createdBefore })).map((o) => o.name);
        expect(await names(middle!.createdAt)).toEqual(["old"]);
        expect(await names(middle!.createdAt.toISOString())).toEqual(["old"]);
        expect(await names(newest!.createdAt.getTime())).toEqual(["middle", "old"]);
        expect(await names(new Date(newest!.createdAt.getTime() + 1))).toEqual(["new", "middle", "old"]);
        expect(await names(new Date(0))).toEqual([]);
      });

      it("list is per kind", async () => {
        const store = await h.make();
        await service(store, kind).create("mine");
        await service(store, kind === "dicts" ? "queues" : "dicts").create("theirs");
        expect((await service(store, kind).list()).map((o) => o.name)).toEqual(["mine"]);
      });

      it("delete removes the object; NotFoundError afterwards, and for a second delete unless allowMissing", async () => {
        const objects = service(await h.make(), kind);
        const handle = await objects.fromName("doomed", { createIfMissing: true });
        await objects.delete("doomed");
        await expectError(objects.fromName("doomed"), NotFoundError);
        await expectError(objects.fromId(handle.id), NotFoundError);
        expect(await objects.list()).toEqual([]);
        await expectError(objects.delete("doomed"), NotFoundError);
        await objects.delete("doomed", { allowMissing: true });
        await objects.delete("never-existed", { allowMissing: true });
        await expectError(objects.delete("never-existed"), NotFoundError);
      });

      it("after delete, createIfMissing gives a new object with a new id", async () => {
        const objects = service(await h.make(), kind);
        const old = await objects.fromName("reborn", { createIfMissing: true });
        await objects.delete("reborn");
        const fresh = await objects.fromName("reborn", { createIfMissing: true });
        expect(fresh.id).not.toBe(old.id);
        await expectError(old.info(), NotFoundError);
        expect((await fresh.info()).name).toBe("reborn");
      });

      it("a Dict and a Queue may share a name", async () => {
        const store = await h.make();
        const mine = await service(store, kind).fromName("shared", { createIfMissing: true });
        const otherKind = kind === "dicts" ? "queues" : "dicts";
        await service(store, otherKind).create("shared");
        const theirs = await service(store, otherKind).fromName("shared");
        expect(theirs.id).not.toBe(mine.id);
        await service(store, otherKind).delete("shared");
        expect((await service(store, kind).fromName("shared")).id).toBe(mine.id);
      });

      it("environments isolate names", async () => {
        const objects = service(await h.make(), kind);
        const inMain = await objects.fromName("same", { createIfMissing: true });
        await expectError(objects.fromName("same", { environment: "dev" }), NotFoundError);
        const inDev = await objects.fromName("same", { environment: "dev", createIfMissing: true });
        expect(inDev.id).not.toBe(inMain.id);
        expect((await inDev.info()).environment).toBe("dev");
        expect((await objects.fromName("same", { environment: "main" })).id).toBe(inMain.id);
        await sleep(5);
        await objects.create("dev-only", { environment: "dev" });
        expect((await objects.list({ environment: "dev" })).map((o) => o.name)).toEqual(["dev-only", "same"]);
        expect((await objects.list()).map((o) => o.name)).toEqual(["same"]);
        await objects.delete("same", { environment: "dev" });
        expect((await objects.fromName("same")).id).toBe(inMain.id);
        await expectError(objects.fromName("same", { environment: "dev" }), NotFoundError);
      });

      it("the store's environment option is the default of every call", async () => {
        const objects = service(await h.make({ environment: "staging" }), kind);
        const handle = await objects.fromName("here", { createIfMissing: true });
        expect((await handle.info()).environment).toBe("staging");
        expect((await objects.list()).map((o) => o.name)).toEqual(["here"]);
        expect(await objects.list({ environment: "main" })).toEqual([]);
        await expectError(objects.fromName("here", { environment: "main" }), NotFoundError);
        expect((await objects.ephemeral().then((e) => e.info())).environment).toBe("staging");
        await objects.delete("here");
        await expectError(objects.fromName("here"), NotFoundError);
      });
    });
  }
}
