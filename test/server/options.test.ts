// startServer's options checked against each other (review 1, F3): a long-poll round broken
// near its end is retried under its request id, so longPollMaxMs must leave that retry room
// within requestIdRetentionMs (proto/requests.ts, longPollAllowedMs). Seen failing without
// the check: startServer({ longPollMaxMs: 240_000 }) started, and the Node.js client then
// refused to retry a round broken after 55 s ("may or may not have taken effect").

import { describe, expect, it } from "vitest";
import { startServer } from "../../server/index.ts";
import { resolveServerOptions } from "../../server/options.ts";
import { InvalidError } from "../../proto/errors.ts";

describe("longPollMaxMs against requestIdRetentionMs", () => {
  it("refuses a longPollMaxMs that a retry could not follow within the retention, naming both and the bound", async () => {
    await expect(startServer({ memory: true, port: 0, longPollMaxMs: 240_000 })).rejects.toThrow(InvalidError);
    await expect(startServer({ memory: true, port: 0, longPollMaxMs: 240_000 })).rejects.toThrow(
      /longPollMaxMs \(240000 ms\) is too long for requestIdRetentionMs \(60000 ms\).*at most 50000 ms/,
    );
    expect(() => resolveServerOptions({ requestIdRetentionMs: 1_000, longPollMaxMs: 600 })).toThrow(/at most 500 ms/);
    expect(() => resolveServerOptions({ requestIdRetentionMs: 300_000, longPollMaxMs: 240_000 })).not.toThrow();
  });

  it("accepts the defaults, and shortens the default rounds under a short retention", async () => {
    expect(resolveServerOptions({}).longPollMaxMs).toBe(30_000);
    expect(resolveServerOptions({ longPollMaxMs: 50_000 }).longPollMaxMs).toBe(50_000);
    expect(resolveServerOptions({ requestIdRetentionMs: 1_000 }).longPollMaxMs).toBe(500);
    expect(() => resolveServerOptions({ requestIdRetentionMs: 0 })).toThrow(InvalidError);
    const server = await startServer({ memory: true, port: 0, requestIdRetentionMs: 1_000 });
    await server.close();
  });
});
