// The synthetic web of examples/crawler, for the Python crawler: serves it on a free
// loopback port and prints one JSON line `{"origin": ...}`; with --reachable, the line also
// lists the paths a complete crawl visits (pages reachable from the start page and the
// missing pages they link to). When its standard input closes, it prints
// `{"fetches", "paths", "refetched"}` and exits.

import { parseArgs } from "node:util";
import { reachableFrom, serveWeb, Web } from "../crawler/web.ts";

const { values } = parseArgs({
  options: {
    pages: { type: "string", default: "160000" },
    seed: { type: "string", default: "1" },
    reachable: { type: "boolean", default: false },
  },
});
async function main(): Promise<void> {
  const web = new Web({ pages: Number(values.pages), seed: Number(values.seed) });
  const server = await serveWeb(web);
  const reachable = values.reachable ? reachableFrom(web) : undefined;
  const paths = reachable === undefined ? undefined : [...reachable.pages, ...reachable.missing];
  process.stdout.write(`${JSON.stringify({ origin: server.origin, ...(paths === undefined ? {} : { reachable: paths, pages: reachable!.pages.size }) })}\n`);

  process.stdin.resume();
  process.stdin.on("end", () => {
    const counts = server.fetchCounts();
    let refetched = 0;
    for (const n of counts.values()) if (n > 1) refetched++;
    process.stdout.write(`${JSON.stringify({ fetches: server.fetches(), paths: counts.size, refetched })}\n`, () => {
      void server.close().then(() => process.exit(0));
    });
  });
}

void main();
