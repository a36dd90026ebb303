// The value codec of format 2 (msgpackr records, proto/values.ts before format 3), kept
// only so that bench/values.ts can measure the format-3 codec beside it in the same run.

// Value codec: MessagePack through msgpackr, with options chosen so that every value the
// spec promises comes back deep-equal, and everything else is refused at put time.
//
// Options, and why:
// - structuredClone: Map, Set, Date, RegExp, typed arrays and shared or cyclic references
//   come back as themselves (plain MessagePack turns a Map into an object, a Set into an array).
// - useRecords (the default) with no shared structures: plain objects are written as
//   records whose shape is defined inline in the same message, so a message decodes on
//   its own in any process, and Maps stay Maps on the way back.
// - useBigIntExtension: bigints of any size round-trip; int64 decodes as bigint (the
//   default int64AsType), and msgpackr writes integer numbers beyond 32 bits as float64,
//   so a number never comes back as a bigint or the other way round.
// - copyBuffers: decoded binary does not alias the stored bytes.
// - writeFunction throws: a function is refused, not silently written as undefined.
//
// msgpackr writes -0 as the integer 0. Before packing, `inspect` walks the value once: it
// refuses what cannot round-trip (functions, symbols, class instances, Errors, WeakMaps,
// strings and object keys with lone surrogates, which UTF-8 would turn into U+FFFD...)
// and notes whether a -0 is present; only then is a copy made in which each -0 is a
// NegativeZero marker that packs as the float64 -0, which msgpackr decodes as -0.

import { Packr, addExtension } from "msgpackr";
import { DeserializationError, InvalidError } from "../../proto/errors.ts";
import { BIN8, EXT8, FIXSTR, STR8, asBuffer, packedStringBytes, readSizedHeader, sizedHeaderBytes, writeSizedHeader, writeString } from "../../proto/msgpack.ts";

const OPTIONS = {
  structuredClone: true,
  useBigIntExtension: true,
  copyBuffers: true,
  writeFunction(): never {
    throw new InvalidError("functions cannot be stored");
  },
};

const packr = new Packr(OPTIONS);

class NegativeZero {}
const NEGATIVE_ZERO = new NegativeZero();
const FLOAT64_TAG = 0xcb;

// Extensions are registered on msgpackr's module-wide table; this one only ever matches
// instances of the private class above, so it cannot change how other code's values pack.
// Its pack writes a plain float64 and returns nothing, so the type code is never written;
// msgpackr still needs one, and reserves it on the decoding side too, so it is an
// otherwise unused application code whose decoder gives the same -0.
addExtension({
  Class: NegativeZero,
  type: 0x2d,
  unpack: () => -0,
  pack(_value: unknown, allocateForWrite: (size: number) => { target: Uint8Array; position: number }) {
    const { target, position } = allocateForWrite(9);
    target[position] = FLOAT64_TAG;
    new DataView(target.buffer, target.byteOffset, target.byteLength).setFloat64(position + 1, -0);
    return undefined as unknown as Uint8Array;
  },
} as unknown as Parameters<typeof addExtension>[0]);

const TypedArray = Object.getPrototypeOf(Uint8Array);

/** Depth past which `inspect` starts tracking visited objects, to survive cycles. */
const PLAIN_DEPTH = 64;

/**
 * Deepest nesting of arrays, objects, Maps and Sets a value may have. msgpackr packs and
 * unpacks recursively and runs out of stack near 2,000 levels on Node's main thread; a
 * fixed limit well below that gives a clear InvalidError instead of a RangeError.
 */
export const VALUE_NESTING_MAX = 512;

interface Inspection {
  negativeZero: boolean;
  seen: Set<object> | null;
}

function refuse(what: string): never {
  throw new InvalidError(
    `cannot store ${what}: values are null, booleans, numbers, strings, bigints, Date, RegExp, ` +
      `Uint8Array and other typed arrays, arrays, plain objects, Map and Set, nested in any way`,
  );
}

function inspectObject(value: object, depth: number, state: Inspection): void {
  if (depth >= VALUE_NESTING_MAX) {
    throw new InvalidError(`cannot store a value nested more than ${VALUE_NESTING_MAX} levels deep`);
  }
  if (depth > PLAIN_DEPTH) {
    state.seen ??= new Set();
    if (state.seen.has(value)) return;
    state.seen.add(value);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) inspect(value[i], depth + 1, state);
    return;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      inspect(k, depth + 1, state);
      inspect(v, depth + 1, state);
    }
    return;
  }
  if (value instanceof Set) {
    for (const v of value) inspect(v, depth + 1, state);
    return;
  }
  if (value instanceof Date || value instanceof RegExp || value instanceof TypedArray || value instanceof ArrayBuffer) return;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) refuse(`an instance of ${value.constructor?.name ?? "a class"}`);
  // MessagePack maps have no symbol keys: the property would be dropped.
  if (Object.getOwnPropertySymbols(value).length > 0) refuse("an object with a symbol key");
  for (const key in value) {
    if (!key.isWellFormed()) refuseLoneSurrogate("an object key");
    // msgpackr renames it "__proto_" on the way back (against prototype pollution), which
    // could even overwrite a real "__proto_" key: refused rather than altered.
    if (key === "__proto__") {
      throw new InvalidError('cannot store an object with an own "__proto__" key: it would not come back as it was; use a Map');
    }
    inspect((value as Record<string, unknown>)[key], depth + 1, state);
  }
}

function refuseLoneSurrogate(where: string): never {
  throw new InvalidError(
    `cannot store ${where} with a lone surrogate (an unpaired UTF-16 code unit): strings are stored as UTF-8, ` +
      `which would replace it with U+FFFD`,
  );
}

function inspect(value: unknown, depth: number, state: Inspection): void {
  switch (typeof value) {
    case "number":
      if (value === 0 && 1 / value < 0) state.negativeZero = true;
      return;
    case "string":
      if (!value.isWellFormed()) refuseLoneSurrogate("a string");
      return;
    case "object":
      if (value !== null) inspectObject(value, depth, state);
      return;
    case "function":
      refuse("a function");
    case "symbol":
      refuse("a symbol");
    default:
      return;
  }
}

/** A copy of `value` with each -0 replaced by the marker; shared references stay shared. */
function markNegativeZeros(value: unknown, copies: Map<object, unknown>): unknown {
  if (typeof value === "number") return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO : value;
  if (typeof value !== "object" || value === null) return value;
  const done = copies.get(value);
  if (done !== undefined) return done;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    copies.set(value, out);
    for (let i = 0; i < value.length; i++) out.push(markNegativeZeros(value[i], copies));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map();
    copies.set(value, out);
    for (const [k, v] of value) out.set(markNegativeZeros(k, copies), markNegativeZeros(v, copies));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set();
    copies.set(value, out);
    for (const v of value) out.add(markNegativeZeros(v, copies));
    return out;
  }
  if (value instanceof Date || value instanceof RegExp || value instanceof TypedArray || value instanceof ArrayBuffer) {
    return value;
  }
  const out: Record<string, unknown> = Object.getPrototypeOf(value) === null ? Object.create(null) : {};
  copies.set(value, out);
  for (const key in value) out[key] = markNegativeZeros((value as Record<string, unknown>)[key], copies);
  return out;
}

// ---- fast paths ----
//
// Byte strings and strings are the commonest values, and msgpackr's general path costs
// 300-400 ns for them, most of it per-call setup and, on decode, a fresh ArrayBuffer per
// binary. These paths write and read exactly the bytes msgpackr does (bin for a Buffer,
// the typed-array extension 0x74 with type 1 for a Uint8Array, str for a string), so
// stored data does not depend on which path wrote it; anything else takes the general path.

const BIN32 = BIN8 + 2;
const EXT32 = EXT8 + 2;
const STR32 = STR8 + 2;
const EXT_TYPED_ARRAY = 0x74;
const TYPED_UINT8 = 1;

/** A Buffer as bin, or a Uint8Array as the typed-array extension (type 0x74, then kind 1, then the bytes). */
function encodeBytes(value: Uint8Array, ext: boolean): Buffer {
  if (!ext) {
    const out = Buffer.allocUnsafe(sizedHeaderBytes(value.length) + value.length);
    out.set(value, writeSizedHeader(out, 0, value.length, BIN8));
    return out;
  }
  // The ext length counts the data after the type byte: the kind byte and the elements.
  const n = value.length + 1;
  const out = Buffer.allocUnsafe(sizedHeaderBytes(n) + 1 + n);
  let at = writeSizedHeader(out, 0, n, EXT8);
  out[at++] = EXT_TYPED_ARRAY;
  out[at++] = TYPED_UINT8;
  out.set(value, at);
  return out;
}

function encodeString(value: string): Buffer {
  if (!value.isWellFormed()) refuseLoneSurrogate("a string");
  const length = Buffer.byteLength(value, "utf8");
  const out = Buffer.allocUnsafe(packedStringBytes(length));
  writeString(out, 0, value, length);
  return out;
}

const typedArraySet = Uint8Array.prototype.set;

/**
 * Copies `length` bytes of `source` from `start` into `target`. Through a plain Uint8Array
 * view, not `subarray`: on a Buffer that builds a Buffer, which cost a fifth of decoding a
 * run of 100 small binaries (10.3 vs 12.6 us, scratch micro-benchmark).
 */
function copyFrom(target: Uint8Array, source: Uint8Array, start: number, length: number): void {
  typedArraySet.call(target, new Uint8Array(source.buffer, source.byteOffset + start, length), 0);
}

/** The decoded value when `bytes` is one whole bin, Uint8Array extension or str; undefined otherwise. */
function decodeFast(bytes: Uint8Array): unknown {
  const tag = bytes[0]!;
  if (tag >= BIN8 && tag <= BIN32) {
    const p = readSizedHeader(bytes, BIN8);
    if (p === undefined || p.start + p.length !== bytes.length) return undefined;
    // A Buffer, as msgpackr gives for bin; small ones come from Node's shared pool, as Buffers do.
    const out = Buffer.allocUnsafe(p.length);
    copyFrom(out, bytes, p.start, p.length);
    return out;
  }
  if (tag >= EXT8 && tag <= EXT32) {
    const p = readSizedHeader(bytes, EXT8);
    // The header's length counts the data after the extension type byte: the typed-array kind and the elements.
    if (p === undefined || p.length < 1 || p.start + 1 + p.length !== bytes.length) return undefined;
    if (bytes[p.start] !== EXT_TYPED_ARRAY || bytes[p.start + 1] !== TYPED_UINT8) return undefined;
    // Its own ArrayBuffer, exactly its size, as msgpackr gives.
    const out = new Uint8Array(p.length - 1);
    copyFrom(out, bytes, p.start + 2, p.length - 1);
    return out;
  }
  if ((tag & 0xe0) === FIXSTR) {
    const length = tag & 0x1f;
    if (1 + length !== bytes.length) return undefined;
    return asBuffer(bytes).toString("utf8", 1, 1 + length);
  }
  if (tag >= STR8 && tag <= STR32) {
    const p = readSizedHeader(bytes, STR8);
    if (p === undefined || p.start + p.length !== bytes.length) return undefined;
    return asBuffer(bytes).toString("utf8", p.start, p.start + p.length);
  }
  return undefined;
}

/** Encodes a value for storage. `undefined` as a whole value and unencodable values are InvalidError. */
export function encodeValue(value: unknown): Buffer {
  if (typeof value === "string") return encodeString(value);
  if (value instanceof Uint8Array) {
    const proto = Object.getPrototypeOf(value);
    if (proto === Buffer.prototype) return encodeBytes(value, false);
    if (proto === Uint8Array.prototype) return encodeBytes(value, true);
  }
  return encodeGeneral(value);
}

/** encodeValue without the fast paths (exported for the test that compares the two). */
export function encodeGeneral(value: unknown): Buffer {
  if (value === undefined) throw new InvalidError("undefined cannot be stored: it means 'missing'");
  const state: Inspection = { negativeZero: false, seen: null };
  inspect(value, 0, state);
  const prepared = state.negativeZero ? markNegativeZeros(value, new Map()) : value;
  try {
    return packr.pack(prepared);
  } catch (err) {
    if (err instanceof InvalidError) throw err;
    throw new InvalidError(`cannot encode value: ${(err as Error).message}`, { cause: err });
  }
}

/** Decodes stored bytes; DeserializationError when they are not one well-formed value. */
export function decodeValue(bytes: Uint8Array): unknown {
  const fast = bytes.length > 0 ? decodeFast(bytes) : undefined;
  return fast !== undefined ? fast : decodeGeneral(bytes);
}

/** decodeValue without the fast paths (exported for the test that compares the two). */
export function decodeGeneral(bytes: Uint8Array): unknown {
  try {
    // unpack throws on truncated input and on bytes left over after one value.
    // As a Buffer: msgpackr copies nested binaries in the class of its input (copyBuffers), and they must come back Buffers.
    return packr.unpack(asBuffer(bytes));
  } catch (err) {
    throw new DeserializationError(`cannot decode value: ${(err as Error).message}`, { cause: err });
  }
}
