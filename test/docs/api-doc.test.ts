// docs/api.md, the reference, kept in step with the code: every name the package and
// `larder-db/client` export (values and types), every member of the public interfaces
// (proto/api.ts) and of the server's options, every default of connect() and
// startServer() next to its option, every limit with its default (proto/limits.ts), and
// every error class with its code and status (proto/errors.ts). A name added to any of
// them without a line here fails this test.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONNECT_DEFAULTS } from "../../client/remote.ts";
import { ERRORS } from "../../proto/errors.ts";
import { DEFAULT_LIMITS } from "../../proto/limits.ts";
import { SERVER_DEFAULTS } from "../../server/options.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (file: string) => readFileSync(new URL(file, ROOT), "utf8");
const DOC = read("docs/api.md");
/** Everything inside backticks, where the doc names code. */
const CODE = [...DOC.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!).join("\n");

function named(name: string): boolean {
  return new RegExp(`(^|[^A-Za-z0-9_])${name.replace(/[$]/g, "\\$")}([^A-Za-z0-9_]|$)`, "m").test(CODE);
}

/** Names a source file exports as types (interfaces, type aliases, `export type { ... }`). */
function typeExports(file: string): string[] {
  const text = read(file);
  const names = [...text.matchAll(/^export (?:interface|type) (\w+)/gm)].map((m) => m[1]!);
  for (const m of text.matchAll(/^export type \{([^}]+)\}/gm)) names.push(...m[1]!.split(",").map((n) => n.trim().split(/\s+as\s+/).at(-1)!));
  return names.filter((n) => n !== "");
}

/** The members of an interface in a source file: `name:`, `name?:`, `name(`, `readonly name`. */
function members(file: string, iface: string): string[] {
  const text = read(file);
  const start = new RegExp(`^(?:export )?interface ${iface}\\b[^{]*\\{`, "m").exec(text);
  expect(start, `${iface} in ${file}`).not.toBeNull();
  let depth = 1;
  let i = start!.index + start![0].length;
  const body0 = i;
  for (; i < text.length && depth > 0; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}") depth--;
  }
  const body = text.slice(body0, i - 1).replace(/\/\*\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  return [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??[(<:]/gm)].map((m) => m[1]!);
}

/** The row of the doc's table whose first cell starts with `name`. */
function row(name: string): string {
  const line = DOC.split("\n").find((l) => l.startsWith(`| \`${name}\``));
  expect(line, `a table row for ${name}`).toBeDefined();
  return line!;
}

const grouped = (n: number) => n.toLocaleString("en-US");

describe("docs/api.md", () => {
  it("names every value the package root and larder-db/client export", async () => {
    const root = Object.keys(await import("../../index.ts"));
    const client = Object.keys(await import("../../client/index.ts"));
    expect(root).toContain("open");
    for (const name of new Set([...root, ...client])) expect(named(name), name).toBe(true);
  });

  it("names every exported type, and every member of the public interfaces", () => {
    // What index.ts and client/index.ts export: proto/api.ts and proto/errors.ts whole, and their own `export type { ... }` lists.
    const files = ["proto/api.ts", "proto/errors.ts", "index.ts", "client/index.ts"];
    const types = files.flatMap(typeExports).filter((t) => !/Error$/.test(t));
    expect(types).toContain("Store");
    for (const type of types) expect(named(type), type).toBe(true);
    const api = [...read("proto/api.ts").matchAll(/^(?:export )?interface (\w+)/gm)].map((m) => m[1]!);
    expect(api.length).toBeGreaterThan(15);
    for (const iface of api) for (const member of members("proto/api.ts", iface)) expect(named(member), `${iface}.${member}`).toBe(true);
    for (const member of members("server/options.ts", "ServerOptions")) expect(named(member), `ServerOptions.${member}`).toBe(true);
    for (const member of members("server/server.ts", "LarderServer")) expect(named(member), `LarderServer.${member}`).toBe(true);
  });

  it("gives every default of connect() and startServer() in its option's row", () => {
    for (const [name, value] of Object.entries(CONNECT_DEFAULTS)) expect(row(name), name).toContain(grouped(value));
    for (const [name, value] of Object.entries(SERVER_DEFAULTS)) {
      const line = row(name);
      if (typeof value === "number") expect(line, name).toContain(value >= 10_000 ? grouped(value) : String(value));
      else if (typeof value === "string") expect(line, name).toContain(`"${value}"`);
      else if (typeof value === "boolean") expect(line, name).toContain(`\`${value}\``);
    }
  });

  it("lists every limit with its default", () => {
    for (const [name, value] of Object.entries(DEFAULT_LIMITS)) {
      const cells = row(name).split("|").map((c) => c.trim());
      expect(Number(cells[2]!.split(" ")[0]!.replaceAll(",", "")), name).toBe(value);
    }
  });

  it("lists every error class with its code and HTTP status", () => {
    for (const spec of ERRORS) {
      const cells = row(spec.className).split("|").map((c) => c.trim());
      expect(cells.slice(1, 4), spec.className).toEqual([`\`${spec.className}\``, `\`${spec.code}\``, String(spec.httpStatus)]);
    }
  });

  it("is shipped in the package, and the README links to it", () => {
    const pkg = JSON.parse(read("package.json")) as { files: string[] };
    expect(pkg.files).toContain("docs");
    expect(read("README.md")).toContain("](docs/api.md)");
  });
});
