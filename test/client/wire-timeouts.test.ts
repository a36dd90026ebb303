// The answer timeout of the framed transport (docs/protocol.md, "Retries" under "The framed
// transport"): a call fails with UNAVAILABLE when the server has sent nothing on its
// connection for answerTimeoutMs since the call went out, not when the answer is still
// arriving. Over a slow link a big answer takes longer than the timeout to come in whole,
// and the calls answered behind it on the same connection wait for it too; none of them
// may be given up while its bytes come (a given-up dict.pop is a value lost: the server
// removed it, and its answer is dropped when it arrives).

import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { startServer } from "../../server/index.ts";
import { proxy } from "../support/proxy.ts";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const ANSWER_TIMEOUT_MS = 300;

describe("the framed transport's answer timeout", () => {
  it("counts from the last bytes received: a big pop over a slow link, and a get behind it, are answered", { timeout: 60_000 }, async () => {
    const server = await startServer({ memory: true, port: 0, wirePort: 0 });
    cleanups.push(() => server.close());
    const direct = await connect(server.wireUrl!);
    cleanups.push(() => direct.close());
    const big = new Uint8Array(2 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
    const d = await direct.dicts.fromName<string, Uint8Array | string>("d", { createIfMissing: true });
    await d.put("big", big);
    await d.put("small", "s");

    // 32 KiB every 50 ms: the 2 MiB answer takes over 3 s to arrive, ten times the timeout.
    const slow = await proxy(server.wireUrl!, cleanups as Array<() => Promise<void>>);
    const store = await connect(slow.url, { answerTimeoutMs: ANSWER_TIMEOUT_MS });
    cleanups.push(() => store.close());
    const far = await store.dicts.fromName<string, Uint8Array | string>("d");
    slow.answerBytesPerTick = 32 * 1024;
    const started = Date.now();
    const [popped, small] = await Promise.all([far.pop("big"), far.get("small")]);
    const took = Date.now() - started;

    expect(popped).toEqual(big);
    expect(small).toBe("s");
    expect(await d.contains("big")).toBe(false);
    // The case this test is about: the answer took many answer timeouts to come in.
    expect(took).toBeGreaterThan(5 * ANSWER_TIMEOUT_MS);
    expect(slow.connectionsOpened).toBe(1);
  });
});
