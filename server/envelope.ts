// Typed reads of a decoded request envelope. The engine validates what the values mean
// (names, partitions, sizes, timeouts); this file only makes sure each field has the
// MessagePack type the protocol promises, so that a string arrives where a string is
// expected. Anything else is InvalidError naming the field. A `nil` field is absent.

import type { LookupMode, ObjectKind } from "../proto/backend.ts";
import { fieldType, type Decoded, type Envelope, type FieldType, type Fields } from "../proto/calls.ts";
import { InvalidError } from "../proto/errors.ts";
import { isMap } from "../proto/wire.ts";

export type { Envelope };

export function asEnvelope(decoded: unknown): Envelope {
  if (!isMap(decoded)) {
    throw new InvalidError("the request body must be a MessagePack map with string keys");
  }
  return decoded as Envelope;
}

function field(body: Envelope, name: string): unknown {
  if (!Object.hasOwn(body, name)) return undefined;
  const value = body[name];
  return value === null ? undefined : value;
}

function wrongType(name: string, expected: string, value: unknown): InvalidError {
  const got = value instanceof Uint8Array ? "bin" : Array.isArray(value) ? "array" : typeof value;
  return new InvalidError(`field '${name}' must be ${expected}, got ${got}`);
}

function required<T>(name: string, value: T | undefined): T {
  if (value === undefined) throw new InvalidError(`field '${name}' is required`);
  return value;
}

function optionalString(body: Envelope, name: string): string | undefined {
  const value = field(body, name);
  if (value !== undefined && typeof value !== "string") throw wrongType(name, "a string", value);
  return value;
}

export function string(body: Envelope, name: string): string {
  return required(name, optionalString(body, name));
}

function optionalNumber(body: Envelope, name: string): number | undefined {
  const value = field(body, name);
  if (value !== undefined && typeof value !== "number") throw wrongType(name, "a number", value);
  return value;
}

export function number(body: Envelope, name: string): number {
  return required(name, optionalNumber(body, name));
}

/** A boolean; absent is false. */
export function flag(body: Envelope, name: string): boolean {
  const value = field(body, name);
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw wrongType(name, "a boolean", value);
  return value;
}

function optionalFlag(body: Envelope, name: string): boolean | undefined {
  return field(body, name) === undefined ? undefined : flag(body, name);
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function optionalBytes(body: Envelope, name: string): Uint8Array | undefined {
  const value = field(body, name);
  if (value !== undefined && !isBytes(value)) throw wrongType(name, "bin", value);
  return value;
}

export function bytes(body: Envelope, name: string): Uint8Array {
  return required(name, optionalBytes(body, name));
}

function bytesArray(body: Envelope, name: string): Uint8Array[] {
  const value = required(name, field(body, name));
  if (!Array.isArray(value)) throw wrongType(name, "an array of bin", value);
  for (const item of value) {
    if (!isBytes(item)) throw wrongType(`${name}[]`, "bin", item);
  }
  return value as Uint8Array[];
}

function pairsArray(body: Envelope, name: string): Array<[Uint8Array, Uint8Array]> {
  const value = required(name, field(body, name));
  if (!Array.isArray(value)) throw wrongType(name, "an array of [bin, bin] pairs", value);
  for (const pair of value) {
    if (!Array.isArray(pair) || pair.length !== 2 || !isBytes(pair[0]) || !isBytes(pair[1])) {
      throw new InvalidError(`field '${name}' must be an array of [bin, bin] pairs`);
    }
  }
  return value as Array<[Uint8Array, Uint8Array]>;
}

/** A batch's calls: an array of `[path, envelope]` pairs. */
export function callsArray(body: Envelope, name: string): Array<[string, Envelope]> {
  const value = required(name, field(body, name));
  if (!Array.isArray(value)) throw wrongType(name, "an array of [path, map] pairs", value);
  for (const call of value) {
    const ok = Array.isArray(call) && call.length === 2 && typeof call[0] === "string" && isMap(call[1]);
    if (!ok) throw new InvalidError(`field '${name}' must be an array of [path, map] pairs`);
  }
  return value as Array<[string, Envelope]>;
}

const KINDS: readonly ObjectKind[] = ["dict", "queue"];
const MODES: readonly LookupMode[] = ["lookup", "createIfMissing", "createFailIfExists", "ephemeral"];

export function stringArray(body: Envelope, name: string): string[] {
  const value = body[name];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new InvalidError(`field '${name}' must be an array of strings`);
  }
  return value as string[];
}

export function kind(body: Envelope, name = "kind"): ObjectKind {
  const value = string(body, name);
  if (!KINDS.includes(value as ObjectKind)) throw new InvalidError(`field '${name}' must be "dict" or "queue", got ${JSON.stringify(value)}`);
  return value as ObjectKind;
}

export function mode(body: Envelope, name = "mode"): LookupMode {
  const value = string(body, name);
  if (!MODES.includes(value as LookupMode)) {
    throw new InvalidError(`field '${name}' must be one of ${MODES.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as LookupMode;
}

type Reader = (body: Envelope, name: string) => unknown;

/** How each request field type is read when present (required: absent is InvalidError). */
const READERS: Partial<Record<FieldType, Reader>> = {
  str: string,
  int: number,
  float: number,
  bool: (body, name) => required(name, optionalFlag(body, name)),
  bin: bytes,
  "bin[]": bytesArray,
  "str[]": stringArray,
  "[bin, bin][]": pairsArray,
  kind,
  mode,
};

/**
 * The decoder of a row's request fields (proto/calls.ts): each field read with its type in
 * the table's order; an optional field absent (or `nil`) is undefined, a `bool?` false.
 */
export function decoder<F extends Fields>(fields: F): (body: Envelope) => Decoded<F> {
  const readers: Array<[string, Reader]> = Object.entries(fields).map(([name, spec]) => {
    const { type, optional } = fieldType(spec);
    const read = READERS[type];
    if (read === undefined) throw new Error(`a request field cannot have the type ${type} (field '${name}')`);
    if (!optional) return [name, read];
    if (type === "bool") return [name, flag];
    return [name, (body, n) => (field(body, n) === undefined ? undefined : read(body, n))];
  });
  return (body) => {
    const out: Record<string, unknown> = {};
    for (const [name, read] of readers) out[name] = read(body, name);
    return out as Decoded<F>;
  };
}
