// An independent oracle for dict key identity and order, written from the documentation in
// proto/keys.ts rather than from its code:
//
//   false < true < every number < every bigint < every string < every byte string < every array
//
// numbers numerically (-Infinity first, NaN last, -0 equal to 0), bigints numerically,
// strings by UTF-8 bytes, byte strings bytewise, arrays element by element with a prefix
// first. Two keys are one key exactly when they compare equal.

import type { DictKey } from "../../proto/api.ts";

function rank(key: DictKey): number {
  if (key === false) return 0;
  if (key === true) return 1;
  if (typeof key === "number") return 2;
  if (typeof key === "bigint") return 3;
  if (typeof key === "string") return 4;
  if (key instanceof Uint8Array) return 5;
  return 6;
}

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

function compareNumbers(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number(Number.isNaN(a)) - Number(Number.isNaN(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareKeys(a: DictKey, b: DictKey): number {
  const byRank = rank(a) - rank(b);
  if (byRank !== 0) return sign(byRank);
  if (typeof a === "number") return compareNumbers(a, b as number);
  if (typeof a === "bigint") return a < (b as bigint) ? -1 : a > (b as bigint) ? 1 : 0;
  if (typeof a === "string") return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b as string, "utf8"));
  if (a instanceof Uint8Array) return Buffer.compare(a, b as Uint8Array);
  if (Array.isArray(a)) {
    const other = b as readonly DictKey[];
    for (let i = 0; i < Math.min(a.length, other.length); i++) {
      const c = compareKeys(a[i]!, other[i]!);
      if (c !== 0) return c;
    }
    return sign(a.length - other.length);
  }
  return 0; // booleans of the same rank are equal
}

/** A string that is equal for two keys exactly when they are the same dict key. */
export function keyIdentity(key: DictKey): string {
  if (typeof key === "boolean") return `b:${key}`;
  if (typeof key === "number") return `n:${Object.is(key, -0) ? 0 : key}`;
  if (typeof key === "bigint") return `i:${key}`;
  if (typeof key === "string") return `s:${JSON.stringify(key)}`;
  if (key instanceof Uint8Array) return `u:${Buffer.from(key).toString("hex")}`;
  return `a:[${(key as readonly DictKey[]).map(keyIdentity).join(",")}]`;
}

/** The keys as `keys()` should yield them: deduplicated, in the documented order. */
export function sortedUniqueKeys(keys: readonly DictKey[]): DictKey[] {
  const unique = new Map<string, DictKey>();
  for (const k of keys) if (!unique.has(keyIdentity(k))) unique.set(keyIdentity(k), k);
  return [...unique.values()].sort(compareKeys);
}
