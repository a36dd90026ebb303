// Connection failures: a closed port is UnavailableError after bounded retries, never a
// hang; a broken connection after the request was sent is retried only for retry-safe
// calls; a client's long-poll loop rides out a server restart.

import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { InvalidError, UnavailableError } from "../../proto/errors.ts";
import { startServer } from "../../server/index.ts";
import { expectError } from "../conformance/expect-error.ts";
import { tempFolder } from "../support/remote-store.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A port that nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A TCP server standing in for a broken Larder server: `onData` sees each chunk a client
 * sends, and returns how many requests it held. Closed after the test.
 */
async function rawServer(onData: (socket: Socket, chunk: Buffer) => number): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("data", (chunk: Buffer) => (requests += onData(socket, chunk)));
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, requests: () => requests };
}

/** Reads a request's first bytes, then resets the connection: the request was sent, no answer comes. */
function resettingServer(): Promise<{ url: string; requests: () => number }> {
  return rawServer((socket) => {
    socket.resetAndDestroy();
    return 1;
  });
}

/** Accepts connections and reads requests but never answers (a stuck server). */
function silentServer(): Promise<{ url: string; requests: () => number }> {
  return rawServer((_, chunk) => chunk.toString("latin1").match(/^POST /gm)?.length ?? 0);
}

describe("unreachable servers", () => {
  it("a server that accepts connections but never answers fails a call after answerTimeoutMs, without a retry", async () => {
    // It used to take the 300 s long-poll bound, twice for a retry-safe call.
    const silent = await silentServer();
    const store = await connect(silent.url, { answerTimeoutMs: 300 });
    cleanups.push(() => store.close());
    const started = Date.now();
    const err = await expectError(store.dicts.fromName("d"), UnavailableError);
    expect(err.message).toMatch(/did not answer .* within 300 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(silent.requests()).toBe(1);
    await expectError(connect(silent.url, { answerTimeoutMs: 0 }), InvalidError);
  });


  it("a call to a closed port fails with UnavailableError within the retry budget", async () => {
    const store = await connect(`http://127.0.0.1:${await closedPort()}`);
    cleanups.push(() => store.close());
    const err = await expectError(store.dicts.fromName("d"), UnavailableError);
    expect(err.message).toMatch(/within 5000 ms \(retryTimeoutMs\)/);
  });

  it("calls that are never retried after an ambiguous failure are still retried when the connection was refused", async () => {
    const store = await connect(`http://127.0.0.1:${await closedPort()}`, { retryTimeoutMs: 300 });
    cleanups.push(() => store.close());
    await expectError(store.queues.ephemeral(), UnavailableError);
    await expectError(store.dicts.create("d"), UnavailableError);
  });

  it("after the request was sent, every call is sent again; without request ids only retry-safe calls are", async () => {
    const server = await resettingServer();
    const store = await connect(server.url, { retryTimeoutMs: 300 });
    cleanups.push(() => store.close());
    // An ephemeral create carries a request id: the server would make one object however
    // often it is sent, so it is sent again until the budget runs out.
    await expectError(store.queues.ephemeral(), UnavailableError);
    expect(server.requests()).toBeGreaterThan(2);

    const before = server.requests();
    const noIds = await connect(server.url, { retryTimeoutMs: 300, requestIds: false });
    cleanups.push(() => noIds.close());
    // Without an id it could make two objects: one attempt, then UnavailableError.
    const once = await expectError(noIds.queues.ephemeral(), UnavailableError);
    expect(once.message).toMatch(/may or may not have taken effect/);
    expect(server.requests() - before).toBe(1);
    // A lookup reads: it is sent again until the budget runs out.
    await expectError(noIds.queues.fromName("q"), UnavailableError);
    expect(server.requests() - before).toBeGreaterThan(3);
  });

  it("an answer that is not HTTP is a broken connection: the call is sent again, or without an id fails at once", async () => {
    // Something else listening on the port (or a broken proxy) used to give InternalError at once.
    const garbage = await rawServer((socket) => {
      socket.end("SSH-2.0-OpenSSH_9.2\r\n");
      return 1;
    });
    const store = await connect(garbage.url, { retryTimeoutMs: 300 });
    cleanups.push(() => store.close());
    await expectError(store.queues.ephemeral(), UnavailableError);
    expect(garbage.requests()).toBeGreaterThan(2);
    const before = garbage.requests();
    const noIds = await connect(garbage.url, { retryTimeoutMs: 300, requestIds: false });
    cleanups.push(() => noIds.close());
    const once = await expectError(noIds.queues.ephemeral(), UnavailableError);
    expect(once.message).toMatch(/may or may not have taken effect/);
    expect(garbage.requests() - before).toBe(1);
  });

  it("a get with a timeout whose server goes away ends within its timeout, not after the whole retry budget", async () => {
    // Its later rounds retried for retryTimeoutMs (5 s) whatever the caller's timeout: a
    // getMany(1, { timeoutMs: 1500 }) ended after 3-4 s across a restart.
    const server = await startServer({ memory: true, port: 0 });
    const store = await connect(server.url);
    cleanups.push(() => store.close());
    const q = await store.queues.ephemeral<string>();
    const started = Date.now();
    const got = q.get({ timeoutMs: 1_500 });
    got.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    await server.close();
    const err = await expectError(got, UnavailableError);
    expect(err.message).toMatch(/within the call's own wait \(timeoutMs\)/);
    expect(Date.now() - started).toBeLessThan(1_500 + 700);
  });

  it("a waiting get rides out a server restart on the same port", async () => {
    const folder = await tempFolder();
    cleanups.push(folder.remove);
    const first = await startServer({ path: folder.path, port: 0, durability: "buffered" });
    const port = Number(new URL(first.url).port);
    const consumer = await connect(first.url, { retryTimeoutMs: 20_000 });
    cleanups.push(() => consumer.close());
    const q = await consumer.queues.fromName<string>("jobs", { createIfMissing: true });
    const got = q.get();
    await new Promise((r) => setTimeout(r, 100));
    await first.close();

    const second = await startServer({ path: folder.path, port, durability: "buffered" });
    cleanups.push(() => second.close());
    const producer = await connect(second.url);
    cleanups.push(() => producer.close());
    await (await producer.queues.fromName("jobs")).put("after restart");
    expect(await got).toBe("after restart");
  });
});
