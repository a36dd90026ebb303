// docs/protocol.md and the table of calls (proto/calls.ts) agree: every route has its
// section and no section names a route that does not exist; each section's request fields
// (name, optional or not, type) and answer fields are the row's; the retry-safe table is
// the rows' `retrySafe`; and the statuses in the error table are the registry's
// (proto/errors.ts).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ROUTES, ROUTE_SPECS, carriesRequestId, fieldType, isRetrySafe, type FieldSpec, type Fields, type RouteName } from "../../proto/calls.ts";
import { EDGE_STATUSES, errorSpec } from "../../proto/errors.ts";

const DOC = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");
const ROUTE_NAMES = Object.keys(ROUTES) as RouteName[];
const routeByPath = new Map(ROUTE_NAMES.map((name) => [ROUTES[name].slice("/v1/".length), name]));

/** How docs/protocol.md writes each field type. */
const DOC_TYPES: Record<string, string> = {
  str: "str",
  int: "int",
  float: "float",
  bool: "bool",
  bin: "bin",
  kind: "str",
  mode: "str",
  "bin[]": "array of bin",
  "str[]": "array of str",
  "[bin, bin][]": "array of `[bin, bin]`",
};

/** The section of one route: from its heading to the next heading. */
function section(name: RouteName): string {
  const heading = `#### \`POST ${ROUTES[name]}\``;
  const start = DOC.indexOf(`${heading}\n`);
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const rest = DOC.slice(start + heading.length);
  const end = rest.search(/^#{2,4} /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/** "name" or "name?" with its documented type, from a field table or an inline `Request { … }`. */
function documentedRequest(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of text.matchAll(/^\| `(\w+)`(\?)? \| ([^|]+?) \|/gm)) fields[`${m[1]}${m[2] ?? ""}`] = m[3]!;
  const inline = /Request `\{ ([^`]*) \}`/.exec(text);
  if (inline) {
    for (const part of inline[1]!.split(", ")) {
      const [key, type] = part.split(": ");
      fields[key!] = type!;
    }
  }
  return fields;
}

/** The top-level field names of the first `Answer: `{ … }`` (with `?` when optional). */
function documentedAnswer(text: string): string[] {
  const m = /Answer: `\{([^`]*)\}`/.exec(text);
  expect(m, "an Answer: `{ … }` line").not.toBeNull();
  const names: string[] = [];
  let depth = 0;
  let token = "";
  for (const ch of m![1]!) {
    if (ch === "[" || ch === "{") depth++;
    else if (ch === "]" || ch === "}") depth--;
    else if (depth === 0 && ch === ":") names.push(token.trim());
    if (depth === 0 && (ch === "," || ch === ":")) token = "";
    else if (depth === 0) token += ch;
  }
  return names.sort();
}

function expectedRequest(fields: Fields): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fields).map(([name, spec]: [string, FieldSpec]) => {
      const { type, optional } = fieldType(spec);
      return [`${name}${optional ? "?" : ""}`, DOC_TYPES[type]!];
    }),
  );
}

describe("docs/protocol.md", () => {
  it("documents every route, and only those", () => {
    const documented = [...DOC.matchAll(/^#### `POST (\/v1\/[^`]+)`$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.values(ROUTES).sort());
  });

  // A batch's fields are calls and replies of the other routes, documented in prose.
  for (const name of ROUTE_NAMES.filter((n) => n !== "batch")) {
    it(`gives ${ROUTES[name]} the request and answer fields of its row`, () => {
      const text = section(name);
      expect(documentedRequest(text)).toEqual(expectedRequest(ROUTE_SPECS[name].request));
      const answer = Object.entries(ROUTE_SPECS[name].reply).map(([field, spec]: [string, FieldSpec]) => `${field}${fieldType(spec).optional ? "?" : ""}`);
      expect(documentedAnswer(text)).toEqual(answer.sort());
    });
  }

  it("lists every route as retry-safe, by a request id exactly where its row carries one", () => {
    const table = DOC.split("<!-- retry-safe:begin -->")[1]!.split("<!-- retry-safe:end -->")[0]!;
    const rows = [...table.matchAll(/^\| `([a-z-]+\/[a-z-]+)` \| ([^|]+) \|$/gm)].map((m) => ({ name: routeByPath.get(m[1]!), why: m[2]! }));
    expect(rows.every((r) => r.name !== undefined)).toBe(true);
    // Every route but the batch (whose calls are judged one by one) is in the table, once.
    expect(rows.map((r) => r.name).sort()).toEqual(ROUTE_NAMES.filter((name) => name !== "batch").sort());
    for (const { name, why } of rows) {
      if (carriesRequestId(name!)) {
        expect(why, name).toMatch(/^request id/);
        expect(isRetrySafe(name!, { requestId: "r1" }), name).toBe(true);
      } else {
        // Without an id, a call is retry-safe by its row alone.
        expect(ROUTE_SPECS[name!].retrySafe, name).toBe(true);
      }
    }
    // Without an id, the rules of a client that sends none (docs/protocol.md, "Retries").
    expect(isRetrySafe("getObject", { mode: "lookup" }) && isRetrySafe("getObject", { mode: "createIfMissing" })).toBe(true);
    expect(isRetrySafe("getObject", { mode: "ephemeral" }) || isRetrySafe("getObject", { mode: "createFailIfExists" })).toBe(false);
    expect(isRetrySafe("dictPut", { skipIfExists: false }) || isRetrySafe("dictPut", { skipIfExists: true })).toBe(false);
    for (const never of ["queuePut", "queueGet", "dictPop", "deleteObject", "dictUpdate", "dictClear", "queueClear", "batch"] as const) expect(isRetrySafe(never, {})).toBe(false);
  });

  it("names as batch reads of values exactly the rows with a large reply", () => {
    const bullet = /^- Reads of values \(([^)]*)\)/m.exec(section("batch"));
    expect(bullet).not.toBeNull();
    const documented = [...bullet![1]!.matchAll(/`([a-z-]+\/[a-z-]+)`/g)].map((m) => routeByPath.get(m[1]!));
    expect(documented.sort()).toEqual(ROUTE_NAMES.filter((name) => ROUTE_SPECS[name].largeReply).sort());
  });

  it("gives each error code the status of the registry", () => {
    const rows = [...DOC.matchAll(/^\| (\d{3}) \| `([A-Z_]+)` \|/gm)].map((m) => ({ status: Number(m[1]), code: m[2]! }));
    expect(rows.length).toBeGreaterThan(10);
    for (const { status, code } of rows) {
      const spec = errorSpec(code);
      expect(spec, code).toBeDefined();
      // The edge's own statuses (before any route), from the registry too.
      const edge = EDGE_STATUSES.some((s) => s.httpStatus === status && s.code === code);
      if (!edge) expect({ code, status }).toEqual({ code, status: spec!.httpStatus });
    }
  });
});
