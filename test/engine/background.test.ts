// The background passes (ttl sweep, garbage collection) end quietly on the errors of a
// store that is closing or stopped, and log any other error instead of swallowing it,
// without retrying it in a loop.

import { afterEach, describe, expect, it, vi } from "vitest";
import { backgroundFailed, isStopping } from "../../engine/background.ts";
import { StorageStoppedError } from "../../engine/commit.ts";
import type { Core } from "../../engine/core.ts";
import { openEngine } from "../../engine/index.ts";
import { ClosedError } from "../../proto/errors.ts";
import { encodeKey } from "../../proto/keys.ts";
import { encodeValue } from "../../proto/values.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("background failures", () => {
  it("are quiet for a store closing or stopped, and logged otherwise", () => {
    const logged = vi.fn();
    const closedDb = Object.assign(new Error("Database is not open"), { code: "LEVEL_DATABASE_NOT_OPEN" });
    const closedIterator = Object.assign(new Error("Iterator is not open"), { code: "LEVEL_ITERATOR_NOT_OPEN" });
    for (const err of [new ClosedError("closed"), new StorageStoppedError("stopped"), closedDb, closedIterator]) {
      expect(isStopping(err)).toBe(true);
      backgroundFailed("a pass", err, logged);
    }
    expect(logged).not.toHaveBeenCalled();
    for (const err of [new Error("EIO: i/o error"), new TypeError("x is undefined"), "a string"]) expect(isStopping(err)).toBe(false);
    backgroundFailed("a pass", new Error("EIO: i/o error"), logged);
    expect(logged).toHaveBeenCalledTimes(1);
    expect(String(logged.mock.calls[0]![0])).toContain("a pass failed");
  });

  it("of garbage collection are logged once, and the range is collected when collection runs again", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const engine = await openEngine({ memory: true });
    try {
      const db = (engine as unknown as { core: Core }).core.db;
      const clear = db.clear.bind(db);
      let failures = 1;
      db.clear = ((...args: Parameters<typeof clear>) => (failures-- > 0 ? Promise.reject(new Error("EIO: i/o error")) : clear(...args))) as typeof db.clear;
      const dict = await engine.getObject("dict", { name: "d", mode: "createIfMissing" });
      await engine.dictPut(dict.id, encodeKey("a"), encodeValue(1), false);
      await engine.dictClear(dict.id);
      await vi.waitFor(() => expect(logged).toHaveBeenCalledTimes(1));
      expect(String(logged.mock.calls[0]![0])).toContain("collecting a dead range failed");
      // Not retried in a loop: the next range marked starts collection again, and both go.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(logged).toHaveBeenCalledTimes(1);
      await engine.dictPut(dict.id, encodeKey("b"), encodeValue(2), false);
      await engine.dictClear(dict.id);
      let garbage = -1;
      await vi.waitFor(async () => {
        garbage = 0;
        for await (const _ of db.keys({ gte: Buffer.from([0x40]), lt: Buffer.from([0x41]) })) garbage++;
        expect(garbage).toBe(0);
      });
      expect(logged).toHaveBeenCalledTimes(1);
    } finally {
      await engine.close();
    }
  });
});
