// Limit overrides: any override that is sensible on its own works without overriding the
// others; only a contradiction within what the user set is InvalidError.

import { describe, expect, it } from "vitest";
import { InvalidError, RequestSizeError, open } from "../../index.ts";
import { DEFAULT_LIMITS, resolveLimits } from "../../proto/limits.ts";

describe("resolveLimits", () => {
  it("dictBytesMax alone lowers the per-entry limits left at their defaults to it", () => {
    const limits = resolveLimits({ dictBytesMax: 4096 });
    expect(limits.dictBytesMax).toBe(4096);
    expect(limits.dictKeyBytesMax).toBe(4096);
    expect(limits.dictValueBytesMax).toBe(4096);
    expect(limits.queueItemBytesMax).toBe(DEFAULT_LIMITS.queueItemBytesMax);
  });

  it("a per-entry limit under dictBytesMax stays as set, and one left at its default stays when it fits", () => {
    const limits = resolveLimits({ dictBytesMax: 100_000, dictValueBytesMax: 2_000 });
    expect(limits.dictValueBytesMax).toBe(2_000);
    expect(limits.dictKeyBytesMax).toBe(DEFAULT_LIMITS.dictKeyBytesMax);
  });

  it("a per-entry limit set above dictBytesMax in the same override is InvalidError", () => {
    expect(() => resolveLimits({ dictBytesMax: 4096, dictValueBytesMax: 8192 })).toThrow(InvalidError);
    expect(() => resolveLimits({ dictBytesMax: 4096, dictKeyBytesMax: 8192 })).toThrow(InvalidError);
  });
});

describe("open({ limits: { dictBytesMax } })", () => {
  it("opens, and a value over the dict's bound is RequestSizeError", async () => {
    await using store = await open({ memory: true, limits: { dictBytesMax: 4096 } });
    const d = await store.dicts.ephemeral();
    await d.put("small", "x".repeat(100));
    await expect(d.put("big", "x".repeat(5000))).rejects.toBeInstanceOf(RequestSizeError);
    expect(await d.len()).toBe(1);
  });
});
