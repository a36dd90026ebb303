// `larder serve` and a signal that arrives while the server is still starting (opening a
// big data folder, say): the start is allowed to finish, what it opened is closed, and the
// process exits 0; a start that does not finish in time exits 1. Before, such a signal was
// only read after the start, so a start that never finished could not be stopped at all.
// And a data folder that cannot be made fails at once (under /proc, Node's recursive mkdir
// used to spin forever).

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { stopWhileStarting } from "../../bin/cli/serve.ts";
import type { Io } from "../../bin/cli/io.ts";
import { open } from "../../index.ts";
import { InternalError, LockedError } from "../../proto/errors.ts";
import { startServer } from "../../server/index.ts";
import { expectError } from "../conformance/expect-error.ts";

function io(): Io & { errors: string[] } {
  const errors: string[] = [];
  return { errors, out: async () => {}, err: async (text) => void errors.push(text), stdin: new PassThrough(), env: {} };
}

describe("a signal during start-up", () => {
  it("lets the start finish, closes what it opened and exits 0", async () => {
    let closed = false;
    let finish!: (server: { close(): Promise<void> }) => void;
    const starting = new Promise<{ close(): Promise<void> }>((resolve) => (finish = resolve));
    const streams = io();
    const code = stopWhileStarting("SIGTERM", starting, streams, 5_000);
    setTimeout(() => finish({ close: async () => void (closed = true) }), 50);
    expect(await code).toBe(0);
    expect(closed).toBe(true);
    expect(streams.errors.join("")).toMatch(/SIGTERM during start-up/);
  });

  it("exits 1 when the start does not finish in time", async () => {
    const streams = io();
    expect(await stopWhileStarting("SIGINT", new Promise(() => {}), streams, 50)).toBe(1);
    expect(streams.errors.join("")).toMatch(/did not finish within 50 ms/);
  });
});

describe("a data folder that cannot be made", () => {
  it("fails at once with a clear error (under /proc, and under a file)", async () => {
    const proc = await expectError(open("/proc/larder-cannot-be-here/data"), InternalError);
    expect(proc.message).toMatch(/cannot create the data folder/);
    const dir = await mkdtemp(join(tmpdir(), "larder-serve-start-"));
    await writeFile(join(dir, "a-file"), "x");
    const file = await expectError(open(join(dir, "a-file", "data")), InternalError);
    await rm(dir, { recursive: true, force: true });
    expect(file.message).toMatch(/cannot open the data folder/);
  });
});

describe("a port that cannot be bound", () => {
  it("in use is LockedError naming the port (another process holds it), not INVALID or INTERNAL", async () => {
    const first = await startServer({ memory: true, port: 0 });
    try {
      const port = Number(new URL(first.url).port);
      const err = await expectError(startServer({ memory: true, port }), LockedError);
      expect(err.message).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
    } finally {
      await first.close();
    }
  });
});
