// docs/format.md's value examples are the codec's bytes: each row's TypeScript value
// encodes to the row's hex and reads back as itself, and the grammar's extension numbers
// are the ones proto/values.ts uses.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EXT_BIGINT, EXT_MAP, EXT_REGEXP, EXT_SET, EXT_UNDEFINED, EXT_VIEW, decodeValue, encodeValue } from "../../proto/values.ts";

const doc = readFileSync(new URL("../../docs/format.md", import.meta.url), "utf8");
const section = doc.slice(doc.indexOf("## Values (format 3)"), doc.indexOf("### Values across languages"));

function examples(): Array<[string, string]> {
  const table = section.slice(section.indexOf("Examples (the golden bytes"));
  const rows: Array<[string, string]> = [];
  for (const m of table.matchAll(/^\| `(.+)` \| `([0-9a-f ]+)` \|$/gm)) rows.push([m[1]!, m[2]!]);
  return rows;
}

describe("docs/format.md, values", () => {
  it("has the examples table", () => {
    expect(examples().length).toBeGreaterThanOrEqual(20);
  });

  for (const [expression, bytes] of examples()) {
    it(`${expression} is ${bytes}`, () => {
      const value = new Function("Buffer", `return (${expression});`)(Buffer);
      expect(encodeValue(value).toString("hex")).toBe(bytes.replace(/ /g, ""));
      expect(decodeValue(Buffer.from(bytes.replace(/ /g, ""), "hex"))).toStrictEqual(value);
    });
  }

  it("names the extension types the codec uses", () => {
    const ext = (n: number, what: string) => expect(section).toMatch(new RegExp(`^ext ${n} +=.*${what}`, "m"));
    ext(EXT_UNDEFINED, "undefined");
    ext(EXT_BIGINT, "bigint");
    ext(EXT_MAP, "Map");
    ext(EXT_SET, "Set");
    ext(EXT_VIEW, "binary view");
    ext(EXT_REGEXP, "RegExp");
  });
});
