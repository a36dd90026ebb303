// The conformance suite, unchanged, over HTTP against `startServer({ postgres })` on a real
// PostgreSQL server started for this file (test/support/postgres-harness.ts).

import { afterAll, beforeAll } from "vitest";
import { conformance } from "../conformance/index.ts";
import { postgresMissing } from "../support/postgres.ts";
import { postgresHarness } from "../support/postgres-harness.ts";

const missing = postgresMissing();
if (missing) console.warn(`skipping the PostgreSQL HTTP conformance suite: ${missing}`);

if (!missing) {
  const harness = postgresHarness("remote over HTTP on PostgreSQL", "http");
  beforeAll(() => harness.start(), 60_000);
  afterAll(() => harness.stop());
  conformance(harness);
}
