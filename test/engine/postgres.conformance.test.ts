// The conformance suite, unchanged, against `open({ postgres })` on a real PostgreSQL
// server started for this file (test/support/postgres-harness.ts).

import { afterAll, beforeAll } from "vitest";
import { conformance } from "../conformance/index.ts";
import { postgresMissing } from "../support/postgres.ts";
import { postgresHarness } from "../support/postgres-harness.ts";

const missing = postgresMissing();
if (missing) console.warn(`skipping the PostgreSQL conformance suite: ${missing}`);

if (!missing) {
  const harness = postgresHarness("PostgreSQL", "embedded");
  beforeAll(() => harness.start(), 60_000);
  afterAll(() => harness.stop());
  conformance(harness);
}
