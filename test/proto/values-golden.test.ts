// Golden bytes of the value codec (proto/values.ts) as format version 2 stores it:
// msgpackr's MessagePack with its extensions. Values are persisted (dict-entry payloads,
// queue runs) exactly as encoded, so each value must encode to exactly these bytes and
// decode back to itself. A change here is a format change: a new FORMAT_VERSION
// (engine/layout.ts) with a migration, and new goldens for it.

import { describe, expect, it } from "vitest";
import { decodeValue, encodeValue } from "../../proto/values.ts";

const GOLDEN: ReadonlyArray<[name: string, value: unknown, hex: string]> = [
  ["null", null, "c0"],
  ["true", true, "c3"],
  ["0", 0, "00"],
  ["-1", -1, "ff"],
  ["1.5", 1.5, "cb3ff8000000000000"],
  ["2 ** 40", 2 ** 40, "cb4270000000000000"],
  ["123n", 123n, "d3000000000000007b"],
  ['"hi"', "hi", "a26869"],
  ["Buffer [1, 2, 3]", Buffer.from([1, 2, 3]), "c403010203"],
  ["Uint8Array [1, 2]", new Uint8Array([1, 2]), "c70374010102"],
  ["[1, 2]", [1, 2], "920102"],
  ["{ a: 1 }", { a: 1 }, "d4724091a16101"],
  ['Map { "a" => 1 }', new Map([["a", 1]]), "81a16101"],
  ["Set { 1 }", new Set([1]), "d473009101"],
  ["Date(0)", new Date(0), "d6ff00000000"],
];

describe("the value codec's bytes (format version 2)", () => {
  for (const [name, value, hex] of GOLDEN) {
    it(`${name} is ${hex}`, () => {
      expect(encodeValue(value).toString("hex")).toBe(hex);
      const back = decodeValue(Buffer.from(hex, "hex"));
      expect(back).toEqual(value);
      if (value !== null && typeof value === "object") expect(Object.getPrototypeOf(back)).toBe(Object.getPrototypeOf(value));
    });
  }
});
