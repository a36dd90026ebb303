// The PostgreSQL schema's version table (postgres/schema.ts): processes opening a new
// database at once create the tables once; a database of an older version is migrated in
// place, its data kept (version 1, before request ids, and version 2, before reservations,
// to the current one); a newer one is refused.

import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { open } from "../../index.ts";
import { openPostgres } from "../../postgres/index.ts";
import { SCHEMA_VERSION } from "../../postgres/schema.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";

const missing = postgresMissing();

/** What the migrations to versions 3 (reservations) and 4 (their deadline index) added, taken away again. */
const VERSION_3_UNDONE =
  "DROP TABLE larder_reservations; DROP TABLE larder_moved; ALTER TABLE larder_partitions DROP COLUMN held, DROP COLUMN moved_to";
const VERSION_4_UNDONE = "DROP INDEX larder_reservations_deadline; CREATE INDEX larder_reservations_ends ON larder_reservations (deadline) WHERE deadline > '-Infinity'";
if (missing) console.warn(`skipping the PostgreSQL schema tests: ${missing}`);

describe.skipIf(missing !== undefined)("PostgreSQL schema versions", () => {
  let cluster: PgCluster;

  beforeAll(async () => {
    cluster = await startPostgres({ noFsync: true });
  }, 60_000);
  afterAll(async () => cluster?.stop());

  async function sql(url: string, text: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  }

  it("four stores opening a new database at once create its tables once", async () => {
    const url = await cluster.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => open({ postgres: url })));
    try {
      const { rows } = await sql(url, "SELECT version FROM larder_version");
      expect(rows).toEqual([{ version: SCHEMA_VERSION }]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("a version-1 database is migrated to the current version with its data, and applies request ids after", async () => {
    expect(SCHEMA_VERSION).toBe(4);
    const url = await cluster.createDatabase();
    const first = await open({ postgres: url });
    const q = await first.queues.fromName<string>("kept", { createIfMissing: true });
    await q.putMany(["a", "b"]);
    await first.close();
    // What version 1 was: the same tables without larder_requests (nor what version 3 added).
    await sql(url, `${VERSION_3_UNDONE}; DROP TABLE larder_requests; UPDATE larder_version SET version = 1`);

    const engine = await openPostgres({ postgres: url, ephemeralAtOpen: "keep" });
    try {
      expect((await sql(url, "SELECT version FROM larder_version")).rows).toEqual([{ version: SCHEMA_VERSION }]);
      const id = (await engine.getObject("queue", { name: "kept", mode: "lookup" })).id;
      expect(await engine.queueLen(id, {})).toBe(2);
      await engine.queuePut(id, [Buffer.from("c")], { timeoutMs: 0 }, { requestId: "after-migration" });
      await engine.queuePut(id, [Buffer.from("c")], { timeoutMs: 0 }, { requestId: "after-migration", retry: true });
      expect(await engine.queueLen(id, {})).toBe(3);
    } finally {
      await engine.close();
    }
  });

  it("a version-2 database is migrated with its items, which can then be reserved and acked", async () => {
    const url = await cluster.createDatabase();
    const first = await open({ postgres: url });
    const q = await first.queues.fromName<string>("kept", { createIfMissing: true });
    await q.putMany(["a", "b", "c"]);
    expect(await q.getMany(1)).toEqual(["a"]);
    await first.close();
    await sql(url, `${VERSION_3_UNDONE}; UPDATE larder_version SET version = 2`);
    const columns = await sql(url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'larder_partitions' AND column_name IN ('held', 'moved_to')");
    expect(columns.rows).toEqual([]);

    const store = await open({ postgres: url });
    try {
      expect((await sql(url, "SELECT version FROM larder_version")).rows).toEqual([{ version: SCHEMA_VERSION }]);
      const again = await store.queues.fromName<string>("kept");
      expect(await again.len()).toBe(2);
      const [b] = await again.reserve(1, { leaseMs: 60_000 });
      expect(b!.value).toBe("b");
      expect(await again.len()).toBe(2);
      const [p] = await again.partitions().next().then((r) => [r.value]);
      expect(p).toMatchObject({ len: 2, reserved: 1 });
      await b!.ack();
      expect(await again.getMany(10)).toEqual(["c"]);
    } finally {
      await store.close();
    }
  });

  it("a version-3 database gets the deadline index of its reservations, which are kept", async () => {
    const url = await cluster.createDatabase();
    const first = await open({ postgres: url });
    const q = await first.queues.fromName<string>("kept", { createIfMissing: true });
    await q.putMany(["a", "b"]);
    await q.reserve(1, { leaseMs: 3_600_000 });
    await first.close();
    await sql(url, `${VERSION_4_UNDONE}; UPDATE larder_version SET version = 3`);

    const store = await open({ postgres: url });
    try {
      expect((await sql(url, "SELECT version FROM larder_version")).rows).toEqual([{ version: SCHEMA_VERSION }]);
      const indexes = await sql(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'larder_reservations' ORDER BY indexname");
      expect(indexes.rows.map((r) => r.indexname)).toEqual(["larder_reservations_deadline", "larder_reservations_due", "larder_reservations_pkey"]);
      const again = await store.queues.fromName<string>("kept");
      expect(await again.len()).toBe(2);
      expect(await again.getMany(10, { timeoutMs: 0 })).toEqual(["b"]);
    } finally {
      await store.close();
    }
  });

  it("a database written by a newer Larder is refused, untouched", async () => {
    const url = await cluster.createDatabase();
    await (await open({ postgres: url })).close();
    await sql(url, `UPDATE larder_version SET version = ${SCHEMA_VERSION + 1}`);
    await expect(open({ postgres: url })).rejects.toThrow(new RegExp(`schema version ${SCHEMA_VERSION + 1}.*upgrade Larder`));
    expect((await sql(url, "SELECT version FROM larder_version")).rows).toEqual([{ version: SCHEMA_VERSION + 1 }]);
  });
});
