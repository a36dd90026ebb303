// Errors (spec: "Every error the library throws on purpose is a LarderError with a stable
// code ... Each class below is exported and can be constructed as new
// QueueEmptyError(message)"). The table is copied from the spec; the second test provokes
// each error a store can raise by itself and checks that class and code arrive intact,
// which is what the remote client must rebuild from { code, message }.

import { describe, expect, it } from "vitest";
import * as errors from "../../proto/errors.ts";
import { LarderError } from "../../proto/errors.ts";
import { expectError, type ErrorClass } from "./expect-error.ts";
import type { Harness } from "./harness.ts";

/** The spec's table of error classes and codes, in its order. */
export const SPEC_TABLE: ReadonlyArray<[string, string]> = [
  ["InvalidError", "INVALID"],
  ["NotFoundError", "NOT_FOUND"],
  ["AlreadyExistsError", "ALREADY_EXISTS"],
  ["KeyError", "KEY_NOT_FOUND"],
  ["QueueEmptyError", "QUEUE_EMPTY"],
  ["QueueFullError", "QUEUE_FULL"],
  ["RequestSizeError", "TOO_LARGE"],
  ["ResourceExhaustedError", "RESOURCE_EXHAUSTED"],
  ["DeserializationError", "DESERIALIZATION"],
  ["AuthError", "UNAUTHENTICATED"],
  ["LockedError", "LOCKED"],
  ["ClosedError", "CLOSED"],
  ["UnavailableError", "UNAVAILABLE"],
  ["LeaseExpiredError", "LEASE_EXPIRED"],
  ["InternalError", "INTERNAL"],
];

export function errorsSuite(h: Harness): void {
  describe("errors", () => {
    for (const [className, code] of SPEC_TABLE) {
      it(`${className} is exported, constructible, and a LarderError with code ${code}`, () => {
        const cls = (errors as unknown as Record<string, ErrorClass | undefined>)[className];
        expect(cls, `${className} is exported`).toBeTypeOf("function");
        const err = new cls!("some message");
        expect(err).toBeInstanceOf(Error);
        expect(err).toBeInstanceOf(LarderError);
        expect(err).toBeInstanceOf(cls!);
        expect(err.code).toBe(code);
        expect(err.message).toBe("some message");
        expect(err.name).toBe(className);
      });
    }

    it("each error a store raises arrives with its class and code", async () => {
      const store = await h.make({ limits: { queuePartitionItemsMax: 1, queuePartitionsMax: 1, dictValueBytesMax: 100 } });
      const d = await store.dicts.ephemeral();
      const q = await store.queues.ephemeral();
      await q.put(1, { partition: "p" });
      await store.dicts.create("taken");
      const cases: Array<[ErrorClass, () => Promise<unknown>]> = [
        [errors.InvalidError, () => store.dicts.fromName("has space")],
        [errors.NotFoundError, () => store.queues.fromName("missing")],
        [errors.AlreadyExistsError, () => store.dicts.create("taken")],
        [errors.KeyError, () => d.pop("missing")],
        [errors.QueueEmptyError, () => q.get({ timeoutMs: 0 })],
        [errors.QueueFullError, () => q.put(2, { partition: "p", timeoutMs: 0 })],
        [errors.RequestSizeError, () => d.put("big", "x".repeat(1_000))],
        [errors.ResourceExhaustedError, () => q.put(2, { partition: "other" })],
      ];
      for (const [cls, call] of cases) await expectError(call, cls);
      await store.close();
      await expectError(d.len(), errors.ClosedError);
    });
  });
}
