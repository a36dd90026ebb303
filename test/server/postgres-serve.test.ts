// `larder serve --postgres URL` (and LARDER_POSTGRES_URL): two real server processes on one
// PostgreSQL database, clients on both. What one client writes the other reads; a getter
// blocked on one server is woken by a put through the other; an ephemeral queue kept alive
// by heartbeats to one server is deleted by the database's sweeper once they stop.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { NotFoundError } from "../../proto/errors.ts";
import type { Store } from "../../proto/api.ts";
import { expectError } from "../conformance/expect-error.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";
import { serve, stop, type Served } from "../support/serve.ts";

const missing = postgresMissing();
if (missing) console.warn(`skipping larder serve --postgres: ${missing}`);

describe.skipIf(missing !== undefined)("larder serve --postgres: two servers on one database", () => {
  let cluster: PgCluster;
  let a: Served | undefined;
  let b: Served | undefined;
  let clientA: Store;
  let clientB: Store;

  beforeAll(async () => {
    cluster = await startPostgres({ noFsync: true });
    const url = await cluster.createDatabase();
    // One through the flag, one through the variable; a short ephemeral expiry for the last case.
    [a, b] = await Promise.all([
      serve(["--postgres", url, "--ephemeral-expiry-ms", "2000"]),
      serve(["--ephemeral-expiry-ms", "2000"], { LARDER_POSTGRES_URL: url }),
    ]);
    clientA = await connect(a.url);
    clientB = await connect(b.url, { heartbeatIntervalMs: 200 });
  }, 60_000);

  afterAll(async () => {
    await clientA?.close();
    await clientB?.close().catch(() => {});
    await Promise.all([stop(a), stop(b)]);
    await cluster?.stop();
  });

  it("what a client of one server writes, a client of the other reads, in order", async () => {
    const dA = await clientA.dicts.fromName<string, number>("shared", { createIfMissing: true });
    await dA.update({ x: 1, y: 2 });
    const dB = await clientB.dicts.fromName<string, number>("shared");
    expect(await dB.get("x")).toBe(1);
    expect(await dB.len()).toBe(2);
    const qA = await clientA.queues.fromName<number>("jobs", { createIfMissing: true });
    await qA.putMany([1, 2, 3]);
    const qB = await clientB.queues.fromName<number>("jobs");
    expect(await qB.getMany(10)).toEqual([1, 2, 3]);
    expect(await qA.len()).toBe(0);
  });

  it("a getter blocked on one server is woken by a put through the other", async () => {
    const qA = await clientA.queues.fromName<string>("wake", { createIfMissing: true });
    const qB = await clientB.queues.fromName<string>("wake");
    const got = qA.get({ timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    await qB.put("hello");
    expect(await got).toBe("hello");
  });

  it("an ephemeral queue lives while its heartbeats arrive, and is deleted by the database's sweeper after they stop", async () => {
    const q = await clientB.queues.ephemeral<number>();
    await q.put(1);
    // Heartbeats every 200 ms to server b keep it alive past the 2 s expiry.
    await new Promise((r) => setTimeout(r, 3_000));
    const seen = await clientA.queues.fromId<number>(q.id);
    expect(await seen.len()).toBe(1);
    // Server b dies (SIGKILL): the heartbeats stop reaching the database, and no one deletes the queue but the sweeper.
    const exited = new Promise((r) => b!.child.once("exit", r));
    b!.child.kill("SIGKILL");
    await exited;
    b = undefined;
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      gone = await clientA.queues.fromId(q.id).then(() => false, (err) => err instanceof NotFoundError);
    }
    expect(gone).toBe(true);
    await expectError(seen.len(), NotFoundError);
  });
});
