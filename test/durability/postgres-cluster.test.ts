// The test support that later PostgreSQL tests stand on (test/support/postgres.ts): a
// primary and a synchronous standby start, a commit on the primary is on the standby, the
// primary dies by SIGKILL, and the promoted standby takes writes.

import { afterAll, describe, expect, it } from "vitest";
import pg from "pg";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";

const missing = postgresMissing();
if (missing) console.warn(`skipping PostgreSQL cluster tests: ${missing}`);

describe.skipIf(missing !== undefined)("test support: a PostgreSQL primary with a synchronous standby", () => {
  let cluster: PgCluster | undefined;
  afterAll(() => cluster?.stop());

  it("starts both, replicates a commit synchronously, and promotes the standby after SIGKILL of the primary", async () => {
    cluster = await startPostgres({ standby: true });
    const primary = new pg.Client({ connectionString: cluster.primary.url });
    await primary.connect();
    const { rows: sync } = await primary.query("SELECT application_name, sync_state FROM pg_stat_replication");
    expect(sync).toEqual([{ application_name: "standby1", sync_state: "sync" }]);
    await primary.query("CREATE TABLE t (v int)");
    await primary.query("INSERT INTO t VALUES (1), (2)");
    primary.on("error", () => {});
    await cluster.primary.kill();
    await cluster.promote();
    const standby = new pg.Client({ connectionString: cluster.standby!.url });
    await standby.connect();
    const { rows } = await standby.query("SELECT v FROM t ORDER BY v");
    expect(rows).toEqual([{ v: 1 }, { v: 2 }]);
    await standby.query("INSERT INTO t VALUES (3)");
    await standby.end();
  });
});
