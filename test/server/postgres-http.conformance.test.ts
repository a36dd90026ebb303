// The conformance suite, unchanged, over HTTP against two servers on one PostgreSQL
// database, each `startServer({ postgres })` in a child process of its own (what `larder
// serve --postgres` runs), with a client on each: every store's calls go to one and the
// other in turn (test/support/postgres-harness.ts, split-store.ts).

import { afterAll, beforeAll } from "vitest";
import { conformance } from "../conformance/index.ts";
import { postgresMissing } from "../support/postgres.ts";
import { postgresHarness } from "../support/postgres-harness.ts";

const missing = postgresMissing();
if (missing) console.warn(`skipping the PostgreSQL HTTP conformance suite: ${missing}`);

if (!missing) {
  const harness = postgresHarness("two servers over HTTP on PostgreSQL", "servers");
  beforeAll(() => harness.start(), 60_000);
  afterAll(() => harness.stop());
  conformance(harness);
}
