// The answer timeout of the framed transport (docs/protocol.md, "Retries" under "The framed
// transport"): a call fails with UNAVAILABLE when the server has sent nothing on its
// connection for answerTimeoutMs since the call went out, not when the answer is still
// arriving. Over a slow link a big answer takes longer than the timeout to come in whole,
// and the calls answered behind it on the same connection wait for it too; none of them
// may be given up while its bytes come (a given-up dict.pop is a value lost: the server
// removed it, and its answer is dropped when it arrives). But the complete answers of other
// calls are no sign that a call's own answer is coming: a call whose answer is lost times out
// even while the connection carries other traffic.

import { createServer, connect as tcpConnect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { readFrameHead, readShortString } from "../../proto/frames.ts";
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

  it("a call whose answer is lost times out while other calls on its connection are answered", { timeout: 30_000 }, async () => {
    const server = await startServer({ memory: true, port: 0, wirePort: 0 });
    cleanups.push(() => server.close());
    const url = await swallowingProxy(server.wireUrl!, "/dict/pop");
    const store = await connect(url, { answerTimeoutMs: ANSWER_TIMEOUT_MS });
    cleanups.push(() => store.close());
    const d = await store.dicts.fromName<string, string>("d", { createIfMissing: true });
    await d.put("k", "v");
    const started = Date.now();
    let settled: string | undefined;
    const pop = d.pop("k").then(
      () => (settled = "resolved"),
      (err: { code?: string }) => (settled = err.code),
    );
    // Other traffic on the same connection: a small call every 100 ms, for up to 6 s.
    let gets = 0;
    while (Date.now() - started < 6_000 && settled === undefined) {
      expect(await d.get("k")).toBe("v");
      gets++;
      await new Promise((r) => setTimeout(r, 100));
    }
    await pop;
    // The pop never reached the server: it fails (the sweep runs each second) instead of hanging.
    expect(settled).toBe("UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(gets).toBeGreaterThan(0);
  });
});

/** A proxy to a larder:// server that drops the client's call frames whose route ends with `swallow`. */
async function swallowingProxy(target: string, swallow: string): Promise<string> {
  const { hostname, port } = new URL(target);
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const up = tcpConnect(Number(port), hostname);
    sockets.push(client, up);
    up.on("data", (b) => client.write(b));
    up.on("error", () => client.destroy());
    client.on("error", () => up.destroy());
    let rest = Buffer.alloc(0);
    let hello = true;
    client.on("data", (chunk: Buffer) => {
      rest = Buffer.concat([rest, chunk]);
      while (rest.length >= 4) {
        const length = rest.readUInt32BE(0);
        if (rest.length < 4 + length) break;
        const frame = rest.subarray(0, 4 + length);
        rest = rest.subarray(4 + length);
        let drop = false;
        if (!hello) {
          const payload = frame.subarray(4);
          const head = readFrameHead(payload);
          if (head.count === 3) drop = readShortString(payload, head.next, "the route").value.endsWith(swallow);
        }
        hello = false;
        if (!drop) up.write(Buffer.from(frame));
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((done) => server.close(done));
  });
  const { port: listening } = server.address() as { port: number };
  return `larder://127.0.0.1:${listening}`;
}
