// A second process for the conformance suite on PostgreSQL (test/support/postgres-harness.ts):
// it serves stores on the databases it is told of, one `startServer({ postgres })` each,
// driven by JSON lines on stdin and answering on stdout:
//
//   {"n": 1, "url": "postgres://...", "options": {limits?, environment?}}  -> {"n": 1, "url": "http://..."}
//   {"n": 1, "close": true}                                                -> {"n": 1, "closed": true}
//   errors                                                                 -> {"n": 1, "error": "...", "code"?: "INVALID"}

import { createInterface } from "node:readline";
import { isLarderError } from "../../proto/errors.ts";
import { startServer, type LarderServer } from "../../server/index.ts";

const servers = new Map<number, LarderServer>();

function answer(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function handle(line: string): Promise<void> {
  const { n, url, options, close } = JSON.parse(line) as { n: number; url?: string; options?: Record<string, unknown>; close?: boolean };
  try {
    if (close) {
      await servers.get(n)?.close();
      servers.delete(n);
      answer({ n, closed: true });
      return;
    }
    const server = await startServer({ ...options, postgres: url!, port: 0 });
    servers.set(n, server);
    answer({ n, url: server.url });
  } catch (err) {
    answer({ n, error: err instanceof Error ? err.message : String(err), ...(isLarderError(err) ? { code: err.code } : {}) });
  }
}

createInterface({ input: process.stdin }).on("line", (line) => void handle(line));
process.stdin.on("end", () => {
  void Promise.allSettled([...servers.values()].map((s) => s.close())).then(() => process.exit(0));
});
