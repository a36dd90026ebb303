// Internal errors go through the server's log (server/log.ts), never to the client: an
// error that has no code of its own (here a clock that breaks under a running server) is
// answered as the opaque INTERNAL, and the logger gets it at level error with its cause;
// a bad logLevel is refused before anything opens.

import { describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { InvalidError } from "../../proto/errors.ts";
import { startServer, type ServerLogger } from "../../server/index.ts";

function capture(): { logger: ServerLogger; lines: Array<{ level: string; fields: object; message: string }> } {
  const lines: Array<{ level: string; fields: object; message: string }> = [];
  const at = (level: string) => (fields: object, message: string) => void lines.push({ level, fields, message });
  return { logger: { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") }, lines };
}

describe("the server's log", () => {
  it("gets an internal error at level error, with the error; the client gets INTERNAL without it", async () => {
    let broken = false;
    const clock = { now: () => {
      if (broken) throw new Error("the clock fell off the wall");
      return Date.now();
    } };
    const { logger, lines } = capture();
    const server = await startServer({ memory: true, port: 0, clock, logger });
    const store = await connect(server.url);
    try {
      const q = await store.queues.fromName("q", { createIfMissing: true });
      broken = true;
      const failed = await q.put(1).then(() => undefined, (err: unknown) => err);
      broken = false;
      expect(failed).toMatchObject({ code: "INTERNAL" });
      expect(String((failed as Error).message)).not.toContain("clock fell");
      const errors = lines.filter((l) => l.level === "error");
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toBe("internal error");
      expect((errors[0]!.fields as { err: Error }).err.message).toBe("the clock fell off the wall");
    } finally {
      broken = false;
      await store.close();
      await server.close();
    }
  });

  it("refuses a logLevel that is not a level", async () => {
    await expect(startServer({ memory: true, port: 0, logLevel: "loud" as never })).rejects.toThrow(InvalidError);
  });
});
