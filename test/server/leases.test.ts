// The reaper of ephemeral objects (server/leases.ts) when the store cannot delete at the
// moment: the server answers UNAVAILABLE while it reopens its store after a storage failure
// (server/recovering.ts). Such a lease must be kept and reaped on a later pass, or the object
// would live on until the next restart.

import { describe, expect, it } from "vitest";
import type { ObjectKind } from "../../proto/backend.ts";
import { InternalError, NotFoundError, UnavailableError } from "../../proto/errors.ts";
import { Leases } from "../../server/leases.ts";
import { ManualClock } from "../support/clock.ts";

function leases(deleteObject: (kind: ObjectKind, id: string) => Promise<void>, errors: unknown[] = []): { leases: Leases; clock: ManualClock } {
  const clock = new ManualClock();
  const l = new Leases({ clock, expiryMs: 1_000, reapIntervalMs: 1_000, deleteObject, logError: (_m, err) => errors.push(err) });
  return { leases: l, clock };
}

describe("reaping ephemeral objects", () => {
  it("a delete answered UNAVAILABLE keeps the lease for the next pass, which deletes the object", async () => {
    const calls: string[] = [];
    let unavailable = true;
    const errors: unknown[] = [];
    const { leases: l, clock } = leases(async (_kind, id) => {
      calls.push(id);
      if (unavailable) throw new UnavailableError("the server is reopening its store");
    }, errors);
    l.start("queue", "qu-1");
    clock.advance(1_001);
    await l.reap();
    expect(calls).toEqual(["qu-1"]);
    expect(l.size).toBe(1);
    expect(errors).toEqual([]);
    unavailable = false;
    await l.reap();
    expect(calls).toEqual(["qu-1", "qu-1"]);
    expect(l.size).toBe(0);
  });

  it("renewAll (after the store reopened) gives expired leases a fresh expiry: nothing is reaped for the outage", async () => {
    const calls: string[] = [];
    const { leases: l, clock } = leases(async (_kind, id) => {
      calls.push(id);
    });
    l.start("queue", "qu-1");
    l.start("dict", "di-1");
    clock.advance(5_000);
    l.renewAll();
    await l.reap();
    expect(calls).toEqual([]);
    expect(l.has("qu-1") && l.has("di-1")).toBe(true);
    clock.advance(1_001);
    await l.reap();
    expect(calls.sort()).toEqual(["di-1", "qu-1"]);
  });

  it("an object already gone, or a delete that fails otherwise, ends the lease (the latter logged)", async () => {
    const errors: unknown[] = [];
    const { leases: l, clock } = leases(async (_kind, id) => {
      if (id === "qu-gone") throw new NotFoundError("gone");
      throw new InternalError("broken");
    }, errors);
    l.start("queue", "qu-gone");
    l.start("dict", "di-broken");
    clock.advance(1_001);
    await l.reap();
    expect(l.size).toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InternalError);
  });
});
