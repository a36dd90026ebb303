// Graceful close: requests in flight are answered, long-polls are released, a put waiting
// for room writes nothing, and whatever a client saw acknowledged is there after a restart;
// over HTTP and over the framed transport (`larder://`, a port of its own).

import { afterEach, describe, expect, it } from "vitest";
import { request } from "undici";
import { connect } from "../../client/index.ts";
import { LarderError, UnavailableError } from "../../proto/errors.ts";
import { startServer, type LarderServer } from "../../server/index.ts";
import { expectError } from "../conformance/expect-error.ts";
import { tempFolder } from "../support/remote-store.ts";
import { finished, startWorker } from "../support/workers.ts";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Transport = "http" | "wire";

async function serve(path: string, options: { limits?: Record<string, number>; wirePort?: number } = {}): Promise<LarderServer> {
  const server = await startServer({ path, port: 0, durability: "buffered", ...options });
  cleanups.push(() => server.close());
  return server;
}

/** The URL a client of `transport` connects to. */
function urlOf(server: LarderServer, transport: Transport): string {
  return transport === "wire" ? server.wireUrl! : server.url;
}

function wireOption(transport: Transport, port = 0): { wirePort?: number } {
  return transport === "wire" ? { wirePort: port } : {};
}

async function folder(): Promise<string> {
  const f = await tempFolder("larder-shutdown-");
  cleanups.push(f.remove);
  return f.path;
}

describe.each<Transport>(["http", "wire"])("server close (%s)", (transport) => {
  it("every write a client saw acknowledged during close is there after a restart", async () => {
    const path = await folder();
    const first = await serve(path, wireOption(transport));
    const store = await connect(urlOf(first, transport), { retryTimeoutMs: 200 });
    cleanups.push(() => store.close());
    const d = await store.dicts.fromName<number, number>("d", { createIfMissing: true });
    const q = await store.queues.fromName<number>("q", { createIfMissing: true });

    // Eight writers put until the server goes away; close starts once some writes are in.
    const acknowledged: number[] = [];
    const failures: unknown[] = [];
    let next = 0;
    let started!: () => void;
    const someAcknowledged = new Promise<void>((resolve) => (started = resolve));
    const writer = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        try {
          await (i % 2 === 0 ? d.put(i, i) : q.put(i));
        } catch (err) {
          failures.push(err);
          return;
        }
        acknowledged.push(i);
        if (acknowledged.length === 40) started();
      }
    };
    const writers = Array.from({ length: 8 }, writer);
    await someAcknowledged;
    await first.close();
    await Promise.all(writers);
    expect(failures.map((err) => (err as LarderError).code)).toEqual(Array(8).fill("UNAVAILABLE"));

    const second = await serve(path, wireOption(transport));
    const reader = await connect(urlOf(second, transport));
    cleanups.push(() => reader.close());
    const d2 = await reader.dicts.fromName<number, number>("d");
    const q2 = await reader.queues.fromName<number>("q");
    const items = new Set<number>();
    for await (const v of q2.iterate()) items.add(v);
    for (const i of acknowledged) {
      if (i % 2 === 0) expect(await d2.get(i), `dict key ${i}`).toBe(i);
      else expect(items.has(i), `queue item ${i}`).toBe(true);
    }
  });

  it("a restart under load leaves no call that is not retry-safe failing as 'may or may not have taken effect'", async () => {
    // Closing idle keep-alive connections at once raced with clients sending on them: the
    // reset made queue puts fail ambiguously (95 across four restarts, none of them run).
    // Kept open until the in-flight requests are answered, such a connection's request is
    // answered 503 UNAVAILABLE, which the client retries, here against the restarted server.
    const path = await folder();
    const first = await startServer({ path, port: 0, durability: "buffered", ...wireOption(transport) });
    const port = Number(new URL(first.url).port);
    const wirePort = transport === "wire" ? Number(new URL(first.wireUrl!).port) : 0;
    const store = await connect(urlOf(first, transport), { retryTimeoutMs: 10_000 });
    cleanups.push(() => store.close());
    const q = await store.queues.fromName<string>("q", { createIfMissing: true });
    let stop = false;
    const acknowledged: string[] = [];
    const failures: string[] = [];
    const lanes = Array.from({ length: 16 }, async (_, lane) => {
      for (let i = 0; !stop; i++) {
        try {
          await q.put(`${lane}-${i}`, { partition: `p${lane}` });
          acknowledged.push(`${lane}-${i}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    let server = first;
    for (let round = 0; round < 3; round++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await server.close();
      server = await startServer({ path, port, durability: "buffered", ...wireOption(transport, wirePort) });
    }
    cleanups.push(() => server.close());
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop = true;
    await Promise.all(lanes);
    expect(failures).toEqual([]);
    const stored = new Set<string>();
    for (let lane = 0; lane < 16; lane++) for (const v of await q.getMany(5_000, { partition: `p${lane}`, timeoutMs: 0 })) stored.add(v);
    expect(acknowledged.filter((v) => !stored.has(v))).toEqual([]);
    expect(stored.size).toBe(acknowledged.length);
  });

  it("a put waiting for room in a full partition is answered UNAVAILABLE and writes nothing", async () => {
    const path = await folder();
    const first = await serve(path, { limits: { queuePartitionItemsMax: 1 }, ...wireOption(transport) });
    const store = await connect(urlOf(first, transport), { retryTimeoutMs: 200 });
    cleanups.push(() => store.close());
    const q = await store.queues.fromName<string>("q", { createIfMissing: true });
    await q.put("first");
    const waiting = q.put("second");
    // It fails while close() lingers for open connections: marked handled now, checked below.
    waiting.catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    await first.close();
    await expectError(waiting, UnavailableError);

    const second = await serve(path, { limits: { queuePartitionItemsMax: 1 }, ...wireOption(transport) });
    const reader = await connect(urlOf(second, transport));
    cleanups.push(() => reader.close());
    const q2 = await reader.queues.fromName<string>("q");
    expect(await q2.getMany(5, { timeoutMs: 0 })).toEqual(["first"]);
  });

  it("close() twice is one close; the health route reports the server gone", async () => {
    const first = await serve(await folder(), wireOption(transport));
    const health = await fetchHealth(first.url);
    expect(health).toBe(200);
    await Promise.all([first.close(), first.close()]);
    await expect(fetchHealth(first.url)).rejects.toThrow();
  });
});

async function fetchHealth(url: string): Promise<number> {
  const res = await request(`${url}/v1/health`);
  await res.body.dump();
  return res.statusCode;
}

describe("a server process", () => {
  it("SIGTERM closes it gracefully: a waiting client is released, the process exits cleanly", async () => {
    const server = startWorker("server", { path: await folder(), port: 0, durability: "buffered" });
    cleanups.push(async () => server.child.kill("SIGKILL"));
    const url = (await server.waitFor(/^listening /)).slice("listening ".length);
    const store = await connect(url, { retryTimeoutMs: 200 });
    cleanups.push(() => store.close());
    const q = await store.queues.fromName("q", { createIfMissing: true });
    const waiting = q.get();
    waiting.catch(() => {}); // checked below, once the process is gone
    await new Promise((r) => setTimeout(r, 100));
    server.child.kill("SIGTERM");
    await finished(server);
    await expectError(waiting, UnavailableError);
  });
});
