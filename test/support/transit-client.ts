// A client process for test/durability/get-transit.test.ts: connects, takes up to N items
// with one getMany, writes them to stdout, and SIGKILLs itself at once, in the same turn
// of the event loop as the answer: the server has committed the get, and the client never
// acknowledges what it received.
//
//   node --import tsx transit-client.ts URL QUEUE N REQUEST_IDS [IN_TRANSIT]
//
// IN_TRANSIT (default true) is connect()'s getsInTransit; "default" leaves it unset.

import { writeSync } from "node:fs";
import { connect } from "../../client/index.ts";

const [url, name, n, requestIds, inTransit = "true"] = process.argv.slice(2);
const store = await connect(url!, { requestIds: requestIds === "true", ...(inTransit === "default" ? {} : { getsInTransit: inTransit === "true" }) });
const q = await store.queues.fromName<string>(name!);
const got = await q.getMany(Number(n), { timeoutMs: 0 });
writeSync(1, `${JSON.stringify(got)}\n`);
process.kill(process.pid, "SIGKILL");
