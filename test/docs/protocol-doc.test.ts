// docs/protocol.md and the code agree: every route has its section and no section names a
// route that does not exist; the retry-safe table is RETRY_SAFE (proto/wire.ts); the
// statuses in the error table are the registry's (proto/errors.ts).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { RETRY_SAFE, ROUTES, isRetrySafe, type RouteName } from "../../proto/wire.ts";
import { errorSpec } from "../../proto/errors.ts";

const DOC = readFileSync(new URL("../../docs/protocol.md", import.meta.url), "utf8");
const ROUTE_NAMES = Object.keys(ROUTES) as RouteName[];
const routeByPath = new Map(ROUTE_NAMES.map((name) => [ROUTES[name].slice("/v1/".length), name]));

describe("docs/protocol.md", () => {
  it("documents every route, and only those", () => {
    const documented = [...DOC.matchAll(/^#### `POST (\/v1\/[^`]+)`$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.values(ROUTES).sort());
  });

  it("lists exactly the retry-safe calls", () => {
    const table = DOC.split("<!-- retry-safe:begin -->")[1]!.split("<!-- retry-safe:end -->")[0]!;
    const rows = [...table.matchAll(/^\| `([a-z-]+\/[a-z-]+)`( \([^)]*\))? \|/gm)].map((m) => ({ name: routeByPath.get(m[1]!), conditional: m[2] !== undefined }));
    expect(rows.every((r) => r.name !== undefined)).toBe(true);
    expect(rows.filter((r) => !r.conditional).map((r) => r.name).sort()).toEqual([...RETRY_SAFE].sort());
    expect(rows.filter((r) => r.conditional).map((r) => r.name).sort()).toEqual(["getObject"]);
    // The conditions in the table are the ones the code applies.
    expect(isRetrySafe("getObject", { mode: "lookup" }) && isRetrySafe("getObject", { mode: "createIfMissing" })).toBe(true);
    expect(isRetrySafe("getObject", { mode: "ephemeral" }) || isRetrySafe("getObject", { mode: "createFailIfExists" })).toBe(false);
    // A repeated put, update or clear could bring back a value popped in between, or delete a newer write.
    expect(isRetrySafe("dictPut", { skipIfExists: false }) || isRetrySafe("dictPut", { skipIfExists: true })).toBe(false);
    for (const never of ["queuePut", "queueGet", "dictPop", "deleteObject", "dictUpdate", "dictClear", "queueClear"] as const) expect(isRetrySafe(never, {})).toBe(false);
  });

  it("gives each error code the status of the registry", () => {
    const rows = [...DOC.matchAll(/^\| (\d{3}) \| `([A-Z_]+)` \|/gm)].map((m) => ({ status: Number(m[1]), code: m[2]! }));
    expect(rows.length).toBeGreaterThan(10);
    for (const { status, code } of rows) {
      const spec = errorSpec(code);
      expect(spec, code).toBeDefined();
      // The edge's own statuses: 405, 408, 415 and 417 for INVALID, 431 for TOO_LARGE (headers, before any route).
      const edge = (code === "INVALID" && [405, 408, 415, 417].includes(status)) || (code === "TOO_LARGE" && status === 431);
      if (!edge) expect({ code, status }).toEqual({ code, status: spec!.httpStatus });
    }
  });
});
