// Every call of the engine answers through its promise: bad input, an unknown id or a
// closed engine is a rejected promise, never an exception thrown by the call itself, so
// that `engine.dictGet(...).catch(...)` and `await` see the same thing (abstract-level's
// rule). Each call of the table of calls (proto/calls.ts) is made with wrong arguments.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEngine, type Engine } from "../../engine/index.ts";
import { CALL_NAMES } from "../../proto/calls.ts";

/** Arguments that are wrong for every call: no such id, wrong types, missing requests. */
const BAD_ARGUMENTS: ReadonlyArray<readonly unknown[]> = [
  [],
  ["di-nosuchdict0000000000", "not bytes", 5, "x"],
  ["qu-nosuchqueue000000000", [1, 2], { partition: 7 }],
  [{}, null, null],
  ["dict", "not an id"],
];

describe("the engine's calls reject rather than throw", () => {
  let engine: Engine;
  let closed: Engine;
  beforeAll(async () => {
    engine = await openEngine({ memory: true });
    closed = await openEngine({ memory: true });
    await closed.close();
  });
  afterAll(() => engine.close());

  for (const name of [...CALL_NAMES, "listEphemeral"] as const) {
    it(`${name} answers a rejected promise for bad input and on a closed engine`, async () => {
      const cases = name === "listEphemeral" ? [] : BAD_ARGUMENTS;
      for (const args of cases) {
        let answer: unknown;
        expect(() => {
          answer = (engine[name] as (...a: unknown[]) => unknown)(...args);
        }, `${name}(${args.map((a) => JSON.stringify(a)).join(", ")})`).not.toThrow();
        expect(answer).toBeInstanceOf(Promise);
        await expect(answer).rejects.toBeInstanceOf(Error);
      }
      let answer: unknown;
      expect(() => {
        answer = (closed[name] as (...a: unknown[]) => unknown)("di-x", new Uint8Array(1), new Uint8Array(1), false);
      }).not.toThrow();
      await expect(answer).rejects.toBeInstanceOf(Error);
    });
  }
});
