// Every `larder serve` flag also comes from its environment variable (SERVE_ENV), and the
// flag wins; /v1/health reports the package's version.

import { readFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseCommand } from "../../bin/cli/args.ts";
import type { Io } from "../../bin/cli/io.ts";
import { SERVE_COMMAND, SERVE_ENV, serveSettings } from "../../bin/cli/serve.ts";
import { InvalidError } from "../../proto/errors.ts";
import { startServer } from "../../server/index.ts";

function settings(argv: string[], env: Record<string, string>) {
  const io: Io = { out: async () => {}, err: async () => {}, stdin: new PassThrough(), env };
  return serveSettings(parseCommand(SERVE_COMMAND, argv), io);
}

const ENV = {
  LARDER_DATA: "/tmp/from-env",
  LARDER_HOST: "0.0.0.0",
  LARDER_PORT: "7171",
  LARDER_WIRE_PORT: "7272",
  LARDER_TOKEN: "env-token",
  LARDER_DURABILITY: "buffered",
  LARDER_LIMITS: "queuePartitionItemsMax=100, dictBytesMax=4096",
  LARDER_ENVIRONMENT: "staging",
  LARDER_NO_UI: "1",
  LARDER_EPHEMERAL_EXPIRY_MS: "60000",
  LARDER_LOG_LEVEL: "debug",
  LARDER_ACCESS_LOG: "1",
  LARDER_NO_METRICS: "true",
};

describe("larder serve settings from the environment", () => {
  it("every flag has a variable, and --help names it", () => {
    expect(Object.keys(SERVE_ENV).sort()).toEqual(Object.keys(SERVE_COMMAND.options).sort());
    for (const [flag, name] of Object.entries(SERVE_ENV)) {
      expect(name).toMatch(/^LARDER_[A-Z_]+$/);
      expect(SERVE_COMMAND.options[flag]!.help).toContain(`[${name}]`);
    }
  });

  it("takes every setting from its variable", () => {
    expect(settings([], ENV)).toEqual({
      path: "/tmp/from-env",
      host: "0.0.0.0",
      port: 7171,
      wirePort: 7272,
      token: "env-token",
      durability: "buffered",
      limits: { queuePartitionItemsMax: 100, dictBytesMax: 4096 },
      environment: "staging",
      ui: false,
      ephemeralExpiryMs: 60_000,
      logLevel: "debug",
      accessLog: true,
      metrics: false,
    });
    expect(settings([], { LARDER_MEMORY: "true" })).toMatchObject({ memory: true, logLevel: "info", accessLog: false, metrics: true });
    // The framed transport: HTTP port + 1 by default, a free one with port 0, none with LARDER_NO_WIRE.
    expect(settings([], {}).wirePort).toBe(7071);
    expect(settings([], { LARDER_PORT: "8000" }).wirePort).toBe(8001);
    expect(settings([], { LARDER_PORT: "0" }).wirePort).toBe(0);
    expect(settings([], { LARDER_NO_WIRE: "1", LARDER_WIRE_PORT: "7272" }).wirePort).toBeUndefined();
  });

  it("a flag wins over its variable", () => {
    const argv = ["--data", "/tmp/flag", "--host", "127.0.0.1", "--port", "0", "--wire-port", "7373", "--token", "flag-token", "--durability", "fsync",
      "--limit", "queuePartitionItemsMax=7", "--env", "prod", "--ephemeral-expiry-ms", "5000", "--log-level", "warn"];
    expect(settings(argv, ENV)).toEqual({
      path: "/tmp/flag",
      host: "127.0.0.1",
      port: 0,
      wirePort: 7373,
      token: "flag-token",
      durability: "fsync",
      limits: { queuePartitionItemsMax: 7 },
      environment: "prod",
      ui: false,
      ephemeralExpiryMs: 5_000,
      logLevel: "warn",
      accessLog: true,
      metrics: false,
    });
    // --memory beats LARDER_DATA, and --data beats LARDER_MEMORY.
    expect(settings(["--memory"], ENV)).toMatchObject({ memory: true });
    expect(settings(["--data", "/tmp/d"], { LARDER_MEMORY: "1" })).toMatchObject({ path: "/tmp/d" });
    expect(settings(["--data", "/tmp/d"], { LARDER_MEMORY: "1" }).memory).toBeUndefined();
  });

  it("a bad variable is INVALID naming the variable", () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ LARDER_PORT: "70000" }, /LARDER_PORT must be from 0 to 65535/],
      [{ LARDER_PORT: "http" }, /LARDER_PORT must be a non-negative integer/],
      [{ LARDER_WIRE_PORT: "70000" }, /LARDER_WIRE_PORT must be from 0 to 65535/],
      [{ LARDER_PORT: "65535" }, /give --wire-port or --no-wire/],
      [{ LARDER_DURABILITY: "sometimes" }, /LARDER_DURABILITY must be fsync or buffered/],
      [{ LARDER_LOG_LEVEL: "loud" }, /LARDER_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/],
      [{ LARDER_ACCESS_LOG: "on" }, /LARDER_ACCESS_LOG must be 1, true, 0 or false/],
      [{ LARDER_MEMORY: "yes please" }, /LARDER_MEMORY must be 1, true, 0 or false/],
      [{ LARDER_MEMORY: "1", LARDER_DATA: "/tmp/x" }, /LARDER_DATA and LARDER_MEMORY cannot be used together/],
      [{ LARDER_LIMITS: "nope=1" }, /--limit takes name=value/],
    ];
    for (const [env, message] of bad) {
      expect(() => settings([], env)).toThrow(InvalidError);
      expect(() => settings([], env)).toThrow(message);
    }
  });
});

describe("/v1/health", () => {
  it("reports the package's version", async () => {
    const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
    const server = await startServer({ memory: true, port: 0 });
    try {
      expect(await (await fetch(`${server.url}/v1/health`)).json()).toEqual({ status: "ok", version, requestIdRetentionMs: 60_000 });
    } finally {
      await server.close();
    }
  });
});
