// Golden bytes of the dict key codec (proto/keys.ts). Keys are persisted (dict-entry and
// ttl keys of engine/layout.ts) and their byte order is keys() order: an encoding that
// changed would leave every stored dict unreadable or out of order. Each key must encode
// to exactly these bytes and decode back to itself. A change here is a format change:
// bump FORMAT_VERSION (engine/layout.ts) and write a migration; never edit a row.

import { describe, expect, it } from "vitest";
import { decodeKey, encodeKey, type DictKey } from "../../proto/keys.ts";

const GOLDEN: ReadonlyArray<[name: string, key: DictKey, hex: string]> = [
  ["false", false, "10"],
  ["true", true, "11"],
  ["0", 0, "208000000000000000"],
  ["1", 1, "20bff0000000000000"],
  ["-1", -1, "20400fffffffffffff"],
  ["1.5", 1.5, "20bff8000000000000"],
  ["Infinity", Infinity, "20fff0000000000000"],
  ["-Infinity", -Infinity, "20000fffffffffffff"],
  ["NaN", NaN, "20fff8000000000000"],
  ["-1n", -1n, "28fefe"],
  ["0n", 0n, "2900"],
  ["255n", 255n, "2901ff"],
  ["2n ** 64n", 2n ** 64n, "2909010000000000000000"],
  ['""', "", "3000"],
  ['"a"', "a", "306100"],
  ['"a\\0b" (0x00 escaped)', "a\u0000b", "306100ff6200"],
  ['"é" (UTF-8)', "é", "30c3a900"],
  ["bytes []", new Uint8Array([]), "3800"],
  ["bytes [0, 1, 255]", new Uint8Array([0, 1, 255]), "3800ff01ff00"],
  ["[]", [], "4000"],
  ['[1, "a", [true]]', [1, "a", [true]], "4020bff000000000000030610040110000"],
];

describe("the key codec's bytes (format version 2)", () => {
  for (const [name, key, hex] of GOLDEN) {
    it(`${name} is ${hex}`, () => {
      expect(encodeKey(key).toString("hex")).toBe(hex);
      const back = decodeKey(Buffer.from(hex, "hex"));
      if (key instanceof Uint8Array) expect(Buffer.from(back as Uint8Array).equals(Buffer.from(key))).toBe(true);
      else expect(back).toEqual(key);
    });
  }

  it("-0 is the key 0", () => {
    expect(encodeKey(-0).toString("hex")).toBe("208000000000000000");
  });

  it("sorts the golden keys by type, then value, in byte order", () => {
    const order = ["-Infinity", "-1", "0", "1", "1.5", "Infinity", "NaN"];
    const byName = new Map(GOLDEN.map(([name, , hex]) => [name, hex]));
    const sorted = [...order].sort((a, b) => Buffer.compare(Buffer.from(byName.get(a)!, "hex"), Buffer.from(byName.get(b)!, "hex")));
    expect(sorted).toEqual(order);
    const tags = GOLDEN.map(([, , hex]) => hex.slice(0, 2));
    expect([...tags].sort()).toEqual(tags);
  });
});
