// The conformance suite, unchanged, against open({ postgres }) in two processes on one
// database: each store's calls go in turn to a Store in this process and to one in a
// child process (test/support/postgres-harness.ts, split-store.ts).

import { afterAll, beforeAll } from "vitest";
import { conformance } from "../conformance/index.ts";
import { postgresMissing } from "../support/postgres.ts";
import { postgresHarness } from "../support/postgres-harness.ts";

const missing = postgresMissing();
if (missing) console.warn(`skipping the PostgreSQL two-process conformance suite: ${missing}`);

if (!missing) {
  const harness = postgresHarness("PostgreSQL, two processes", "processes");
  beforeAll(() => harness.start(), 60_000);
  afterAll(() => harness.stop());
  conformance(harness);
}
