// Golden bytes of the value codec as format version 2 stored it: msgpackr's MessagePack
// with its extensions. Format 3 (proto/values.ts, its goldens in test/proto/golden-values.ts)
// writes other bytes; these must still read back as the values they were, through the
// format-2 decoder that upgrades old folders (engine/upgrade.ts), and be refused or read
// differently by the format-3 decoder (which is why folders are rewritten, not read as they are).

import { describe, expect, it } from "vitest";
import { decodeV2Value } from "../../engine/upgrade.ts";
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

describe("the value codec's bytes (format version 2), read by the upgrade", () => {
  for (const [name, value, hex] of GOLDEN) {
    it(`${name} was ${hex}`, () => {
      const back = decodeV2Value(Buffer.from(hex, "hex"));
      expect(back).toEqual(value);
      if (value !== null && typeof value === "object") expect(Object.getPrototypeOf(back)).toBe(Object.getPrototypeOf(value));
    });
  }
});

it("format 3 writes other bytes for most of them, so a folder of format 2 must be rewritten", () => {
  const differ = GOLDEN.filter(([, value, hex]) => encodeValue(value).toString("hex") !== hex).map(([name]) => name);
  expect(differ).toEqual(["2 ** 40", "123n", "Buffer [1, 2, 3]", "Uint8Array [1, 2]", "{ a: 1 }", 'Map { "a" => 1 }', "Set { 1 }"]);
  // The same bytes mean another value: a format-2 Map is a format-3 plain object.
  expect(decodeValue(Buffer.from("81a16101", "hex"))).toStrictEqual({ a: 1 });
});
