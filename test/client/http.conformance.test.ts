// The conformance suite over HTTP, with the client's defaults: calls go one per request
// until 4 are in flight, and the rest in batches (docs/protocol.md, "Batches").

import { conformance } from "../conformance/index.ts";
import { httpHarness } from "../support/http-harness.ts";

conformance(httpHarness("remote over HTTP"));
