// The spec: startServer takes every option of open(), and open's `environment` is the
// default of all calls. A client that names no environment (connect() without one) leaves
// it to the server, so a server started with environment "staging" serves "staging" to it;
// a client that names one gets that one.

import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { NotFoundError } from "../../proto/errors.ts";
import { startServer } from "../../server/index.ts";
import { expectError } from "../conformance/expect-error.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("the server's environment option", () => {
  it("is the default of clients that name none", async () => {
    const server = await startServer({ memory: true, port: 0, environment: "staging" });
    cleanups.push(() => server.close());
    const plain = await connect(server.url);
    cleanups.push(() => plain.close());
    const main = await connect(server.url, { environment: "main" });
    cleanups.push(() => main.close());

    const d = await plain.dicts.fromName("cfg", { createIfMissing: true });
    expect((await d.info()).environment).toBe("staging");
    expect((await plain.queues.ephemeral().then((q) => q.info())).environment).toBe("staging");
    expect((await plain.dicts.list()).map((o) => o.name)).toEqual(["cfg"]);
    await expectError(main.dicts.fromName("cfg"), NotFoundError);
    expect(await main.dicts.list()).toEqual([]);
    expect((await main.dicts.fromName("cfg", { environment: "staging" })).id).toBe(d.id);
    await plain.dicts.delete("cfg");
    await expectError(main.dicts.fromName("cfg", { environment: "staging" }), NotFoundError);
  });

  it("defaults to main", async () => {
    const server = await startServer({ memory: true, port: 0 });
    cleanups.push(() => server.close());
    const plain = await connect(server.url);
    cleanups.push(() => plain.close());
    expect((await (await plain.dicts.fromName("x", { createIfMissing: true })).info()).environment).toBe("main");
  });
});
