// The error table in docs/errors.md and the registry in proto/errors.ts must agree row for
// row, and every class the spec names must be exported, constructible and carry its code.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as larderErrors from "../../proto/errors.ts";
import { EDGE_STATUSES, ERRORS, LarderError, errorFromCode } from "../../proto/errors.ts";
import { SPEC_TABLE } from "../conformance/errors.ts";


function docRows(): Array<{ className: string; code: string; status: number; meaning: string }> {
  const text = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const rows = [];
  for (const line of text.split("\n")) {
    const m = /^\| `(\w+)` \| `(\w+)` \| (\d{3}) \| (.+) \|$/.exec(line);
    if (m) rows.push({ className: m[1]!, code: m[2]!, status: Number(m[3]), meaning: m[4]! });
  }
  return rows;
}

describe("error registry", () => {
  it("matches the spec's table of classes and codes, in order", () => {
    expect(ERRORS.map((e) => [e.className, e.code])).toEqual(SPEC_TABLE);
  });

  it("matches docs/errors.md row for row: class, code, HTTP status and meaning", () => {
    const fromRegistry = ERRORS.map((e) => ({ className: e.className, code: e.code, status: e.httpStatus, meaning: e.meaning }));
    expect(docRows()).toEqual(fromRegistry);
  });

  it("matches docs/errors.md's table of the HTTP edge's statuses", () => {
    const text = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
    const rows = [...text.matchAll(/^\| (\d{3}) \| `(\w+)` \| (.+) \|$/gm)].map((m) => ({ httpStatus: Number(m[1]), code: m[2]!, meaning: m[3]! }));
    expect(rows).toEqual(EDGE_STATUSES.map((s) => ({ ...s })));
    for (const s of EDGE_STATUSES) expect(ERRORS.some((e) => e.code === s.code)).toBe(true);
  });

  it.each(SPEC_TABLE)("%s is exported, constructible with a message, and carries code %s", (className, code) => {
    const cls = (larderErrors as Record<string, unknown>)[className] as new (message: string) => LarderError;
    expect(typeof cls).toBe("function");
    const err = new cls("boom");
    expect(err).toBeInstanceOf(LarderError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(err.name).toBe(className);
    expect(err.message).toBe("boom");
    expect((cls as unknown as { code: string }).code).toBe(code);
  });

  it("rebuilds the same class from a code received over the wire, and INTERNAL for unknown codes", () => {
    for (const [className, code] of SPEC_TABLE) {
      const err = errorFromCode(code, "m");
      expect(err.constructor.name).toBe(className);
      expect(err.code).toBe(code);
    }
    expect(errorFromCode("NO_SUCH_CODE", "m").code).toBe("INTERNAL");
  });
});
