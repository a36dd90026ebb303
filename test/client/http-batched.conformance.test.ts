// The conformance suite over HTTP with one request in flight at a time: every call made
// while another is in flight goes in a batch, so every concurrency test of the suite
// (atomic skipIfExists and pop, FIFO across producers, waiters served in order, ...) runs
// through `POST /v1/batch` and its per-call answers.

import { conformance } from "../conformance/index.ts";
import { httpHarness } from "../support/http-harness.ts";

conformance(httpHarness("remote over HTTP, batched", { requestsInFlightMax: 1 }));
