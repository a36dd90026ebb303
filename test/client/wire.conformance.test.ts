// The conformance suite over the framed transport (`connect("larder://host:port")`,
// docs/protocol.md "The framed transport"): every call of the suite multiplexed on one
// connection, waits included.

import { conformance } from "../conformance/index.ts";
import { httpHarness } from "../support/http-harness.ts";

conformance(httpHarness("remote over the framed transport", {}, "wire"));
