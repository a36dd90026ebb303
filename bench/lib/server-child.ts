// A server in its own process (started by lib/server-process.ts, never by hand), so that
// the client under test and the server do not share one event loop, as in a deployment:
//   --child=larder --dir=D --durability=fsync|buffered    Larder's startServer()
//                  [--metrics=off]                        ... without /metrics and with the log silent (bench/ops.ts)
//     [--wire]                                            ... also serving the framed transport,
//                                                         whose larder:// URL is then the one printed
//   --child=bare                                          the bare node:http baseline
// Prints one JSON line `{ "url": ... }` when listening; closes gracefully on SIGTERM.

import { parseArgs } from "./args.ts";
import { startBareServer } from "./bare-http.ts";
import { BENCH_LIMITS } from "./larder-limits.ts";

const args = parseArgs();
const kind = args.extra.get("child");

async function start(): Promise<{ url: string; close(): Promise<void> }> {
  if (kind === "bare") return startBareServer();
  if (kind === "larder") {
    const { startServer } = await import("../../dist/server/index.js");
    const durability = args.extra.get("durability") === "buffered" ? "buffered" : "fsync";
    const observed = args.extra.get("metrics") === "off" ? { metrics: false, logLevel: "silent" as const } : {};
    const wire = args.extra.has("wire");
    const server = await startServer({ path: args.extra.get("dir")!, durability, host: "127.0.0.1", port: 0, limits: BENCH_LIMITS, ...observed, ...(wire ? { wirePort: 0 } : {}) });
    return { url: wire ? server.wireUrl! : server.url, close: () => server.close() };
  }
  throw new Error("lib/server-child.ts runs as a child of the bench: --child=larder|bare");
}

const server = await start();
let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  server.close().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`close failed: ${(error as Error)?.message}\n`);
      process.exit(1);
    },
  );
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// The parent's end of stdin closes when the parent dies, even by SIGKILL: do not outlive it.
process.stdin.on("end", stop);
process.stdin.resume();
process.stdout.write(JSON.stringify({ url: server.url }) + "\n");
