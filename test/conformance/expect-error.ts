// The one way the suite checks an error: by class and stable code, never by message text
// (the spec lets messages change). A sync throw and a rejection are both accepted, so the
// thunk form also covers async iterators that fail on their first `next()`.

import { expect } from "vitest";
import { LarderError, type ErrorCode } from "../../proto/errors.ts";

export type ErrorClass = (new (message?: string) => LarderError) & { readonly code: ErrorCode };

export async function expectError(action: Promise<unknown> | (() => unknown), cls: ErrorClass): Promise<LarderError> {
  let result: unknown;
  try {
    result = await (typeof action === "function" ? action() : action);
  } catch (err) {
    const seen = err instanceof LarderError ? `${err.name} (${err.code}): ${err.message}` : String(err);
    expect(err instanceof LarderError, `expected a LarderError ${cls.name}, got ${seen}`).toBe(true);
    expect((err as LarderError).code, `expected ${cls.name}, got ${seen}`).toBe(cls.code);
    expect(err, `expected an instance of ${cls.name}, got ${seen}`).toBeInstanceOf(cls);
    return err as LarderError;
  }
  return expect.fail(`expected ${cls.name} (${cls.code}), but it succeeded with ${describe(result)}`);
}

function describe(value: unknown): string {
  try {
    return typeof value === "bigint" ? `${value}n` : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}
