// The command line's rough edges: version flags, Larder's own wording for every parse
// mistake (never Node's parseArgs text), a port in use (status 1, not the usage status 2),
// and tables aligned by display width.

import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Io } from "../../bin/cli/io.ts";
import { main } from "../../bin/cli/main.ts";
import { renderTable } from "../../bin/cli/table.ts";
import { startServer } from "../../server/index.ts";

function capture(): { io: Io; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  const io: Io = {
    out: async (text) => void (out += text),
    err: async (text) => void (err += text),
    stdin: new PassThrough(),
    env: { LARDER_URL: "http://127.0.0.1:9" },
  };
  return { io, out: () => out, err: () => err };
}

async function run(...argv: string[]) {
  const c = capture();
  const status = await main(argv, c.io);
  return { status, out: c.out(), err: c.err() };
}

describe("version", () => {
  it("-v, -V and --version print the package's version", async () => {
    for (const flag of ["-v", "-V", "--version"]) {
      const r = await run(flag);
      expect(r.status).toBe(0);
      expect(r.out).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
    }
  });

  it("--help lists --version", async () => {
    const r = await run("--help");
    expect(r.out).toMatch(/-V, -v, --version/);
  });
});

describe("parse mistakes are INVALID in Larder's words", () => {
  const cases: Array<[string[], RegExp]> = [
    [["dict", "list", "--bogus"], /^error: INVALID: unknown option '--bogus'\n/],
    [["dict", "items", "d", "-5"], /^error: INVALID: unknown option '-5'; to pass an argument that starts with '-', put it after '--'/],
    [["queue", "peek", "q", "--partition"], /^error: INVALID: option '--partition' needs a value \(--partition P\)/],
    [["queue", "peek", "q", "-p", "--json"], /^error: INVALID: option '-p' needs a value, got the option-like '--json'/],
    [["queue", "peek", "q", "--json=yes"], /^error: INVALID: option '--json' takes no value/],
    [["serve", "--port"], /^error: INVALID: option '--port' needs a value/],
  ];
  for (const [argv, message] of cases) {
    it(argv.join(" "), async () => {
      const r = await run(...argv);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(message);
      // Node's parseArgs wording, which named `<value>` and quoted unevenly.
      expect(r.err).not.toMatch(/To specify|<value>|argument missing|ambiguous/);
    });
  }
});

describe("larder serve on a port in use", () => {
  it("exits 1 with LOCKED, not the usage status 2", async () => {
    const first = await startServer({ memory: true, port: 0 });
    try {
      const r = await run("serve", "--memory", "--port", new URL(first.url).port);
      expect(r.err).toMatch(/^error: LOCKED: cannot listen on 127\.0\.0\.1:\d+: the port is in use/);
      expect(r.status).toBe(1);
    } finally {
      await first.close();
    }
  });
});

describe("tables", () => {
  it("align cells by display width: CJK and emoji take two columns, combining marks none", () => {
    const table = renderTable(["Key", "Value"], [["日本", "x"], ["👍🏽", "yy"], ["e\u0301", "z"]]);
    expect(table).toBe(
      [
        "┏━━━━━━┳━━━━━━━┓",
        "┃ Key  ┃ Value ┃",
        "┡━━━━━━╇━━━━━━━┩",
        "│ 日本 │ x     │",
        "│ 👍🏽   │ yy    │",
        "│ e\u0301    │ z     │",
        "└──────┴───────┘",
        "",
      ].join("\n"),
    );
  });
});
