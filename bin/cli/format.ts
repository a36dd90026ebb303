// How values, keys and timestamps are shown. Two text forms, after Python's str() and
// repr() that Modal's CLI uses, and one JSON form for scripts:
//
// - text: a string is itself; a value that JSON represents exactly (finite numbers other
//   than -0, booleans, null, and plain objects and arrays of those) is compact JSON;
//   anything else (bigint, Date, Map, Set, Uint8Array, NaN, -0, ...) is util.inspect on
//   one line, which names the type: `123n`, `Map(1) { 'a' => 1 }`.
// - repr: util.inspect on one line for everything, so strings are quoted: `'blah'`.
// - JSON: JSON.stringify, extended for the codec's other types: bigint as a decimal
//   string, Map as an object (or an array of [key, value] pairs when a key is not a
//   string), Set as an array, byte arrays as base64 strings, Date as an ISO string.
//   NaN and Infinity become null, as JSON.stringify makes them. Lossy for those types.

import { inspect } from "node:util";

/** Cells in tables are cut to this many characters, then "..." is appended (Modal's rule). */
export const CELL_CHARS_MAX = 80;

export function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (isExactJson(value)) return JSON.stringify(value);
  return reprOf(value);
}

export function reprOf(value: unknown): string {
  return inspect(value, { depth: Infinity, breakLength: Infinity, compact: true, maxArrayLength: Infinity, maxStringLength: Infinity });
}

/** Modal's `_display`: the first 80 characters and "..." when longer. */
export function truncate(text: string): string {
  const chars = [...text];
  return chars.length > CELL_CHARS_MAX ? chars.slice(0, CELL_CHARS_MAX).join("") + "..." : text;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** true when JSON.stringify of the value, parsed back, is deep-equal to it. */
export function isExactJson(value: unknown, depth = 0): boolean {
  if (depth > 256) return false;
  if (value === null || typeof value === "boolean" || typeof value === "string") return true;
  if (typeof value === "number") return Number.isFinite(value) && !Object.is(value, -0);
  if (typeof value !== "object") return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || !isExactJson(value[i], depth + 1)) return false;
    }
    return true;
  }
  if (!isPlainObject(value)) return false;
  return Object.values(value).every((v) => isExactJson(v, depth + 1));
}

function jsonReplacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Map) {
    const entries = [...value];
    return entries.every(([k]) => typeof k === "string") ? Object.fromEntries(entries) : entries;
  }
  if (value instanceof Set) return [...value];
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>);
  if (value instanceof RegExp) return value.toString();
  return value;
}

/** JSON for scripts, indented by two spaces like Modal's `--json`. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer, 2) ?? "null";
}

/** One line of JSON (JSON Lines), for `queue peek --json`. */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value, jsonReplacer) ?? "null";
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

function localDate(date: Date): string {
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
}

function zoneName(date: Date): string {
  const parts = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(date);
  return parts.find((p) => p.type === "timeZoneName")?.value ?? "";
}

/** Tables: local time as `%Y-%m-%d %H:%M %Z`, e.g. "2025-03-01 14:05 UTC". */
export function tableTimestamp(date: Date): string {
  return `${localDate(date)} ${pad2(date.getHours())}:${pad2(date.getMinutes())} ${zoneName(date)}`.trimEnd();
}

/** JSON: local time as Python's isoformat(sep=" ", timespec="seconds"), e.g. "2025-03-01 14:05:09+00:00". */
export function jsonTimestamp(date: Date): string {
  const offsetMinutes = -date.getTimezoneOffset();
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  const time = `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  return `${localDate(date)} ${time}${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}
