// Reservation tokens ("partNum.seq.owner", engine/holds.ts) are read by hand, without a
// regular expression, because an ack of 100 reservations reads 100 of them. The reader must
// accept exactly what the grammar allows, 1 to 16 digits per part, and read the same numbers
// that Number() reads; anything else is not a token (the engine answers InvalidError).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseToken, reservationToken, type TokenParts } from "../../engine/holds.ts";

/** The grammar, as a regular expression: what the reader must agree with. */
function byGrammar(token: string): TokenParts | undefined {
  const m = /^(\d{1,16})\.(\d{1,16})\.(\d{1,16})$/.exec(token);
  return m ? { partNum: Number(m[1]), seq: Number(m[2]), owner: Number(m[3]) } : undefined;
}

function read(token: unknown): TokenParts | undefined {
  const out: TokenParts = { partNum: -1, seq: -1, owner: -1 };
  return parseToken(token, out) ? out : undefined;
}

const digits = fc.stringMatching(/^\d{1,18}$/);
const nearTokens = fc.oneof(
  fc.tuple(digits, digits, digits).map(([a, b, c]) => `${a}.${b}.${c}`),
  fc.tuple(digits, digits).map(([a, b]) => `${a}.${b}`),
  fc.tuple(digits, digits, digits, fc.constantFrom("", ".", ".1", "x", " ", "-", "+1")).map(([a, b, c, d]) => `${a}.${b}.${c}${d}`),
  fc.tuple(fc.constantFrom("", "-", " ", "x"), digits, digits, digits).map(([p, a, b, c]) => `${p}${a}.${b}.${c}`),
  fc.string({ maxLength: 40 }),
);

describe("reservation tokens", () => {
  it("round-trip: a token made by reservationToken reads back as its numbers", () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), (partNum, seq, owner) => {
        expect(read(reservationToken(partNum, seq, owner))).toEqual({ partNum, seq, owner });
      }),
    );
    expect(read(reservationToken(2 ** 53 - 1, 0, 1_234_567_890_123_456))).toEqual({ partNum: 2 ** 53 - 1, seq: 0, owner: 1_234_567_890_123_456 });
  });

  it("accepts exactly the grammar's tokens, with the numbers Number() reads", () => {
    fc.assert(
      fc.property(nearTokens, (token) => {
        expect(read(token)).toEqual(byGrammar(token));
      }),
      { numRuns: 2_000 },
    );
    for (const bad of ["", "1.2", "1.2.3.4", "1..3", ".1.2", "1.2.", "01.2.x", "1.2.3 ", "١.٢.٣", "17171717171717171.1.1"]) {
      expect(read(bad), bad).toBeUndefined();
    }
    for (const notString of [undefined, null, 1, ["1.2.3"], { toString: () => "1.2.3" }]) expect(read(notString)).toBeUndefined();
    expect(read("0007.0.12")).toEqual({ partNum: 7, seq: 0, owner: 12 });
    // Past 2 ** 53 the digits round as Number() rounds them.
    expect(read("9999999999999999.9007199254740993.1")).toEqual({ partNum: Number("9999999999999999"), seq: Number("9007199254740993"), owner: 1 });
  });
});
