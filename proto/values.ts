// Value codec, format 3: standard MessagePack plus six extension types, written and read
// here without any library, so that the bytes are defined by this grammar and not by a
// library version, and any MessagePack implementation can produce and read them.
// docs/format.md has the same grammar, the Python mapping, and examples.
//
// Grammar (persisted and sent as it is: DO NOT CHANGE; bump FORMAT_VERSION in
// engine/layout.ts and write a migration instead):
//
//   value     = one MessagePack object filling all the bytes; at the top level, not undefined
//   nil       = 0xc0                                  -> null
//   bool      = 0xc2 | 0xc3                           -> false | true
//   int       = any MessagePack int form              -> number within ±(2^53-1), else bigint
//   float     = 0xcb f64 | 0xca f32 (read only)       -> number
//   str       = MessagePack str, valid UTF-8          -> string
//   bin       = MessagePack bin                       -> Uint8Array
//   array     = MessagePack array of values           -> Array
//   map       = MessagePack map, every key a str, no key twice -> plain object
//   timestamp = ext -1, the standard timestamp 32/64/96 -> Date (milliseconds: floor of the nanoseconds)
//   ext 0     = empty payload                         -> undefined (inside a container only)
//   ext 1     = two's-complement big-endian integer, 1+ bytes -> bigint
//   ext 2     = payload: one MessagePack map whose keys are any values -> Map
//   ext 3     = payload: one MessagePack array        -> Set
//   ext 4     = payload: kind byte, then the elements' bytes, little-endian -> a binary view:
//               1 Int8Array, 2 Uint8ClampedArray, 3 Int16Array, 4 Uint16Array, 5 Int32Array,
//               6 Uint32Array, 7 Float32Array, 8 Float64Array, 9 BigInt64Array,
//               10 BigUint64Array, 11 ArrayBuffer, 12 Buffer (Node.js)
//   ext 5     = payload: one MessagePack array [source: str, flags: str] -> RegExp
//
// Writing is canonical, so that every implementation writes the same bytes for one value:
// every header in its smallest form (fixint, fixstr, fixmap, fixarray, fixext 1/2/4/8/16
// included); an integral number with |n| <= 2^53-1 that is not -0 as the smallest int,
// every other number (fractions, -0, NaN as 7ff8000000000000, Infinity, |n| >= 2^53) as
// float 64; a bigint always as ext 1 in its minimal length, floor(bitlen(n >= 0 ? n : -n-1) / 8) + 1
// bytes; a Date as the smallest timestamp (32 when whole seconds in [0, 2^32), 64 when
// seconds in [0, 2^34), else 96); object keys in Object.keys order; an array hole as undefined.
// Reading accepts any form of a header (an int in int64 form, a str32 of 3 bytes).
//
// At most VALUE_NESTING_MAX containers (array, map, Map, Set) nest around any leaf. Refused
// at write, with InvalidError: functions, symbols, class instances (other than those
// above), symbol-keyed or "__proto__"-keyed objects, lone surrogates in strings or keys,
// invalid Dates, values that contain themselves, undefined as the whole value. A value
// referenced twice is written twice and comes back as two equal copies. Refused at read,
// with DeserializationError and the byte offset: truncated or trailing bytes, 0xc1,
// invalid UTF-8, a map key that is not a str, a key twice, an unknown extension or kind,
// a malformed payload, nesting past the limit, undefined as the whole value.

import { isUtf8 } from "node:buffer";
import { DeserializationError, InvalidError, LarderError } from "./errors.ts";
import { asBuffer } from "./msgpack.ts";

/**
 * Deepest nesting of arrays, objects, Maps and Sets a value may have. The codec recurses;
 * a fixed limit gives a clear error instead of a stack overflow, and catches cycles.
 */
export const VALUE_NESTING_MAX = 512;

export const EXT_UNDEFINED = 0;
export const EXT_BIGINT = 1;
export const EXT_MAP = 2;
export const EXT_SET = 3;
export const EXT_VIEW = 4;
export const EXT_REGEXP = 5;
export const EXT_TIMESTAMP = -1;

/** Kinds of the binary-view extension (ext 4), by number. */
type ViewConstructor = { new (buffer: ArrayBuffer): ArrayBufferView; readonly BYTES_PER_ELEMENT: number };
const VIEW_KINDS: Array<ViewConstructor | undefined> = [
  undefined,
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];
const KIND_ARRAY_BUFFER = 11;
const KIND_BUFFER = 12;
const KIND_OF = new Map<object, number>(VIEW_KINDS.map((c, i) => [c?.prototype as object, i] as [object, number]).filter(([, i]) => i > 0));

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Scratch for floats: one float64 and its bytes in host order. */
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const TWO_32 = 2 ** 32;
const TWO_34 = 2 ** 34;
/** Milliseconds a Date can hold on either side of the epoch. */
const DATE_MS_MAX = 8.64e15;

function refuse(what: string): never {
  throw new InvalidError(
    `cannot store ${what}: values are null, booleans, numbers, strings, bigints, Date, RegExp, ` +
      `Uint8Array and other typed arrays, arrays, plain objects, Map and Set, nested in any way`,
  );
}

function refuseLoneSurrogate(where: string): never {
  throw new InvalidError(
    `cannot store ${where} with a lone surrogate (an unpaired UTF-16 code unit): strings are stored as UTF-8, ` +
      `which would replace it with U+FFFD`,
  );
}

function tooDeep(): never {
  throw new InvalidError(
    `cannot store a value nested more than ${VALUE_NESTING_MAX} levels deep (a value that contains itself is refused too)`,
  );
}

/** Swaps each element's bytes in place (big-endian hosts only: the format is little-endian). */
function swapElements(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

// ---- writing ----

const INITIAL_BYTES = 8 * 1024;
/** A writer's buffer past this size is dropped after use rather than kept. */
const KEEP_BYTES_MAX = 1024 * 1024;

class Writer {
  buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  pos = 0;
  busy = false;

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** The bytes written so far, as a Buffer of their own. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    if (this.buf.length > KEEP_BYTES_MAX) this.buf = Buffer.allocUnsafeSlow(INITIAL_BYTES);
    this.pos = 0;
    return out;
  }

  /** A header of one of the sized families: `small` (fixstr/fixarray/fixmap) below `smallLimit`, else tag8/16/32. */
  header(n: number, small: number, smallLimit: number, tag8: number, tag16: number, tag32: number): void {
    this.room(5);
    const buf = this.buf;
    if (n < smallLimit) {
      buf[this.pos++] = small | n;
    } else if (n < 0x100 && tag8 !== 0) {
      buf[this.pos++] = tag8;
      buf[this.pos++] = n;
    } else if (n < 0x10000) {
      buf[this.pos++] = tag16;
      buf[this.pos++] = n >>> 8;
      buf[this.pos++] = n & 0xff;
    } else {
      buf[this.pos++] = tag32;
      buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
  }

  /** An extension header for a payload of `n` bytes, in its smallest form. */
  extHeader(type: number, n: number): void {
    this.room(6);
    const buf = this.buf;
    const fix = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
    if (fix !== 0) {
      buf[this.pos++] = fix;
    } else if (n < 0x100) {
      buf[this.pos++] = 0xc7;
      buf[this.pos++] = n;
    } else if (n < 0x10000) {
      buf[this.pos++] = 0xc8;
      buf[this.pos++] = n >>> 8;
      buf[this.pos++] = n & 0xff;
    } else {
      buf[this.pos++] = 0xc9;
      buf.writeUInt32BE(n, this.pos);
      this.pos += 4;
    }
    buf[this.pos++] = type & 0xff;
  }

  value(value: unknown, depth: number): void {
    switch (typeof value) {
      case "string":
        return this.string(value);
      case "number":
        return this.number(value);
      case "boolean":
        this.room(1);
        this.buf[this.pos++] = value ? 0xc3 : 0xc2;
        return;
      case "bigint":
        return this.bigint(value);
      case "undefined":
        // Only inside a container: the top level refuses it before getting here.
        this.room(3);
        this.buf[this.pos++] = 0xc7;
        this.buf[this.pos++] = 0;
        this.buf[this.pos++] = EXT_UNDEFINED;
        return;
      case "object":
        if (value === null) {
          this.room(1);
          this.buf[this.pos++] = 0xc0;
          return;
        }
        return this.object(value, depth);
      case "function":
        refuse("a function");
      default:
        refuse("a symbol");
    }
  }

  number(n: number): void {
    this.room(9);
    const buf = this.buf;
    if (Number.isInteger(n) && n <= Number.MAX_SAFE_INTEGER && n >= -Number.MAX_SAFE_INTEGER && !(n === 0 && 1 / n < 0)) {
      if (n >= 0) {
        if (n < 0x80) {
          buf[this.pos++] = n;
        } else if (n < 0x100) {
          buf[this.pos++] = 0xcc;
          buf[this.pos++] = n;
        } else if (n < 0x10000) {
          buf[this.pos++] = 0xcd;
          buf[this.pos++] = n >>> 8;
          buf[this.pos++] = n & 0xff;
        } else if (n < TWO_32) {
          buf[this.pos++] = 0xce;
          buf.writeUInt32BE(n, this.pos);
          this.pos += 4;
        } else {
          buf[this.pos++] = 0xcf;
          buf.writeUInt32BE(Math.floor(n / TWO_32), this.pos);
          buf.writeUInt32BE(n >>> 0, this.pos + 4);
          this.pos += 8;
        }
      } else if (n >= -0x20) {
        buf[this.pos++] = n & 0xff;
      } else if (n >= -0x80) {
        buf[this.pos++] = 0xd0;
        buf[this.pos++] = n & 0xff;
      } else if (n >= -0x8000) {
        buf[this.pos++] = 0xd1;
        buf.writeInt16BE(n, this.pos);
        this.pos += 2;
      } else if (n >= -0x80000000) {
        buf[this.pos++] = 0xd2;
        buf.writeInt32BE(n, this.pos);
        this.pos += 4;
      } else {
        buf[this.pos++] = 0xd3;
        const hi = Math.floor(n / TWO_32);
        buf.writeInt32BE(hi, this.pos);
        buf.writeUInt32BE(n - hi * TWO_32, this.pos + 4);
        this.pos += 8;
      }
      return;
    }
    buf[this.pos++] = 0xcb;
    if (n !== n) {
      // One NaN, whatever bits this one carries.
      buf.writeUInt32BE(0x7ff80000, this.pos);
      buf.writeUInt32BE(0, this.pos + 4);
    } else if (LITTLE_ENDIAN) {
      F64[0] = n;
      const p = this.pos;
      buf[p] = F64_BYTES[7]!;
      buf[p + 1] = F64_BYTES[6]!;
      buf[p + 2] = F64_BYTES[5]!;
      buf[p + 3] = F64_BYTES[4]!;
      buf[p + 4] = F64_BYTES[3]!;
      buf[p + 5] = F64_BYTES[2]!;
      buf[p + 6] = F64_BYTES[1]!;
      buf[p + 7] = F64_BYTES[0]!;
    } else {
      buf.writeDoubleBE(n, this.pos);
    }
    this.pos += 8;
  }

  string(s: string): void {
    const length = s.length;
    if (length < 32) {
      // Short: encode by hand after a one-byte header, widening it if the UTF-8 needs 32+ bytes.
      this.room(2 + length * 3);
      const buf = this.buf;
      const start = this.pos;
      let at = start + 1;
      for (let i = 0; i < length; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x80) {
          buf[at++] = c;
        } else if (c < 0x800) {
          buf[at++] = 0xc0 | (c >> 6);
          buf[at++] = 0x80 | (c & 0x3f);
        } else if (c >= 0xd800 && c < 0xe000) {
          const d = c < 0xdc00 && i + 1 < length ? s.charCodeAt(i + 1) : 0;
          if (d < 0xdc00 || d >= 0xe000) refuseLoneSurrogate(this.inKey ? "an object key" : "a string");
          i++;
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          buf[at++] = 0xf0 | (cp >> 18);
          buf[at++] = 0x80 | ((cp >> 12) & 0x3f);
          buf[at++] = 0x80 | ((cp >> 6) & 0x3f);
          buf[at++] = 0x80 | (cp & 0x3f);
        } else {
          buf[at++] = 0xe0 | (c >> 12);
          buf[at++] = 0x80 | ((c >> 6) & 0x3f);
          buf[at++] = 0x80 | (c & 0x3f);
        }
      }
      const n = at - start - 1;
      if (n < 32) {
        buf[start] = 0xa0 | n;
        this.pos = at;
      } else {
        buf.copyWithin(start + 2, start + 1, at);
        buf[start] = 0xd9;
        buf[start + 1] = n;
        this.pos = at + 1;
      }
      return;
    }
    if (!s.isWellFormed()) refuseLoneSurrogate(this.inKey ? "an object key" : "a string");
    const n = Buffer.byteLength(s, "utf8");
    this.header(n, 0xa0, 32, 0xd9, 0xda, 0xdb);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, n, "utf8");
  }

  /** Set while writing an object key, for the lone-surrogate message. */
  inKey = false;

  bigint(n: bigint): void {
    if (n >= -0x80000000n && n < 0x80000000n) {
      const v = Number(n);
      const size = v >= -0x80 && v < 0x80 ? 1 : v >= -0x8000 && v < 0x8000 ? 2 : v >= -0x800000 && v < 0x800000 ? 3 : 4;
      this.extHeader(EXT_BIGINT, size);
      this.room(size);
      this.buf.writeIntBE(v, this.pos, size);
      this.pos += size;
      return;
    }
    const negative = n < 0n;
    const magnitude = negative ? -n - 1n : n;
    let hex = magnitude.toString(16);
    // Minimal length: one more bit than the magnitude needs, for the sign, rounded up to bytes.
    const bits = (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0]!, 16)));
    const size = Math.floor(bits / 8) + 1;
    hex = hex.padStart(size * 2, "0");
    this.extHeader(EXT_BIGINT, size);
    this.room(size);
    const buf = this.buf;
    buf.write(hex, this.pos, size, "hex");
    if (negative) for (let i = this.pos; i < this.pos + size; i++) buf[i] = ~buf[i]! & 0xff;
    this.pos += size;
  }

  object(value: object, depth: number): void {
    if (Array.isArray(value)) {
      if (Object.getPrototypeOf(value) !== Array.prototype) refuse(`an instance of ${value.constructor?.name ?? "an Array subclass"}`);
      if (depth >= VALUE_NESTING_MAX) tooDeep();
      const length = value.length;
      this.header(length, 0x90, 16, 0, 0xdc, 0xdd);
      for (let i = 0; i < length; i++) this.value(value[i], depth + 1);
      return;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) return this.plainObject(value as Record<string, unknown>, depth);
    if (proto === Uint8Array.prototype) {
      const bytes = value as Uint8Array;
      this.header(bytes.length, 0, 0, 0xc4, 0xc5, 0xc6);
      this.room(bytes.length);
      this.buf.set(bytes, this.pos);
      this.pos += bytes.length;
      return;
    }
    if (proto === Map.prototype) return this.map(value as Map<unknown, unknown>, depth);
    if (proto === Set.prototype) return this.set(value as Set<unknown>, depth);
    if (proto === Date.prototype) return this.date(value as Date);
    if (proto === Buffer.prototype) return this.view(KIND_BUFFER, value as Buffer, 1);
    if (proto === ArrayBuffer.prototype) return this.view(KIND_ARRAY_BUFFER, new Uint8Array(value as ArrayBuffer), 1);
    if (proto === RegExp.prototype) {
      const re = value as RegExp;
      this.wrapped(EXT_REGEXP, () => {
        this.room(1);
        this.buf[this.pos++] = 0x92;
        this.string(re.source);
        this.string(re.flags);
      });
      return;
    }
    const kind = KIND_OF.get(proto);
    if (kind !== undefined) {
      const view = value as ArrayBufferView & { BYTES_PER_ELEMENT: number };
      return this.view(kind, new Uint8Array(view.buffer, view.byteOffset, view.byteLength), view.BYTES_PER_ELEMENT);
    }
    refuse(`an instance of ${(value as { constructor?: { name?: string } }).constructor?.name ?? "a class"}`);
  }

  plainObject(value: Record<string, unknown>, depth: number): void {
    if (depth >= VALUE_NESTING_MAX) tooDeep();
    // MessagePack maps have no symbol keys: the property would be dropped.
    if (Object.getOwnPropertySymbols(value).length > 0) refuse("an object with a symbol key");
    const keys = Object.keys(value);
    const length = keys.length;
    this.header(length, 0x80, 16, 0, 0xde, 0xdf);
    for (let i = 0; i < length; i++) {
      const key = keys[i]!;
      if (key === "__proto__") {
        throw new InvalidError('cannot store an object with an own "__proto__" key: it would not come back as it was; use a Map');
      }
      this.inKey = true;
      this.string(key);
      this.inKey = false;
      this.value(value[key], depth + 1);
    }
  }

  map(value: Map<unknown, unknown>, depth: number): void {
    if (depth >= VALUE_NESTING_MAX) tooDeep();
    this.wrapped(EXT_MAP, () => {
      this.header(value.size, 0x80, 16, 0, 0xde, 0xdf);
      for (const [k, v] of value) {
        this.value(k, depth + 1);
        this.value(v, depth + 1);
      }
    });
  }

  set(value: Set<unknown>, depth: number): void {
    if (depth >= VALUE_NESTING_MAX) tooDeep();
    this.wrapped(EXT_SET, () => {
      this.header(value.size, 0x90, 16, 0, 0xdc, 0xdd);
      for (const v of value) this.value(v, depth + 1);
    });
  }

  /** An extension whose payload `write` produces: written after a 6-byte header, then moved up to the smallest header. */
  wrapped(type: number, write: () => void): void {
    this.room(6);
    const start = this.pos;
    this.pos += 6;
    write();
    const n = this.pos - start - 6;
    const end = this.pos;
    this.pos = start;
    this.extHeader(type, n);
    const headerBytes = this.pos - start;
    if (headerBytes !== 6) this.buf.copyWithin(this.pos, start + 6, end);
    this.pos = start + headerBytes + n;
  }

  view(kind: number, bytes: Uint8Array, elementBytes: number): void {
    this.extHeader(EXT_VIEW, bytes.length + 1);
    this.room(bytes.length + 1);
    this.buf[this.pos++] = kind;
    this.buf.set(bytes, this.pos);
    if (!LITTLE_ENDIAN && elementBytes > 1) swapElements(this.buf.subarray(this.pos, this.pos + bytes.length), elementBytes);
    this.pos += bytes.length;
  }

  date(value: Date): void {
    const ms = value.getTime();
    if (ms !== ms) refuse("an invalid Date");
    const seconds = Math.floor(ms / 1000);
    const nanos = (ms - seconds * 1000) * 1_000_000;
    this.room(15);
    const buf = this.buf;
    if (nanos === 0 && seconds >= 0 && seconds < TWO_32) {
      this.extHeader(EXT_TIMESTAMP, 4);
      buf.writeUInt32BE(seconds, this.pos);
      this.pos += 4;
    } else if (seconds >= 0 && seconds < TWO_34) {
      this.extHeader(EXT_TIMESTAMP, 8);
      buf.writeUInt32BE(nanos * 4 + Math.floor(seconds / TWO_32), this.pos);
      buf.writeUInt32BE(seconds >>> 0, this.pos + 4);
      this.pos += 8;
    } else {
      this.extHeader(EXT_TIMESTAMP, 12);
      buf.writeUInt32BE(nanos, this.pos);
      const hi = Math.floor(seconds / TWO_32);
      buf.writeInt32BE(hi, this.pos + 4);
      buf.writeUInt32BE(seconds - hi * TWO_32, this.pos + 8);
      this.pos += 12;
    }
  }
}

let idle: Writer | undefined = new Writer();

/** A string alone, straight into a Buffer of its exact size, as Writer writes it. */
function encodeString(value: string): Buffer {
  if (!value.isWellFormed()) refuseLoneSurrogate("a string");
  const n = Buffer.byteLength(value, "utf8");
  const head = n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  const out = Buffer.allocUnsafe(head + n);
  if (head === 1) out[0] = 0xa0 | n;
  else if (head === 2) {
    out[0] = 0xd9;
    out[1] = n;
  } else if (head === 3) {
    out[0] = 0xda;
    out.writeUInt16BE(n, 1);
  } else {
    out[0] = 0xdb;
    out.writeUInt32BE(n, 1);
  }
  out.write(value, head, n, "utf8");
  return out;
}

/** A Uint8Array as bin (`kind` -1), or a Buffer as extension 4 of kind 12, exactly as Writer writes them. */
function encodeBytes(value: Uint8Array, kind: number): Buffer {
  const length = value.length;
  const n = kind < 0 ? length : length + 1;
  let out: Buffer;
  let at: number;
  if (kind < 0) {
    const head = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    out = Buffer.allocUnsafe(head + n);
    out[0] = head === 2 ? 0xc4 : head === 3 ? 0xc5 : 0xc6;
    at = 1;
  } else {
    const fix = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
    const head = fix !== 0 ? 2 : n < 0x100 ? 3 : n < 0x10000 ? 4 : 6;
    out = Buffer.allocUnsafe(head + n);
    out[0] = fix !== 0 ? fix : head === 3 ? 0xc7 : head === 4 ? 0xc8 : 0xc9;
    at = 1;
    if (fix !== 0) {
      out[at++] = EXT_VIEW;
      out[at++] = kind;
      out.set(value, at);
      return out;
    }
  }
  if (n < 0x100) out[at++] = n;
  else if (n < 0x10000) {
    out[at++] = n >>> 8;
    out[at++] = n & 0xff;
  } else {
    out.writeUInt32BE(n, at);
    at += 4;
  }
  if (kind >= 0) {
    out[at++] = EXT_VIEW;
    out[at++] = kind;
  }
  out.set(value, at);
  return out;
}

/** Encodes a value for storage. `undefined` as a whole value and unencodable values are InvalidError. */
export function encodeValue(value: unknown): Buffer {
  if (typeof value === "string") return encodeString(value);
  if (value instanceof Uint8Array) {
    // The commonest values, written straight into a Buffer of their exact size.
    const proto = Object.getPrototypeOf(value);
    if (proto === Uint8Array.prototype) return encodeBytes(value, -1);
    if (proto === Buffer.prototype) return encodeBytes(value, KIND_BUFFER);
  }
  if (value === undefined) throw new InvalidError("undefined cannot be stored: it means 'missing'");
  // A getter of the value may encode another value meanwhile: it gets a writer of its own.
  const writer = idle ?? new Writer();
  idle = undefined;
  try {
    writer.value(value, 0);
    return writer.take();
  } catch (err) {
    writer.pos = 0;
    writer.inKey = false;
    if (err instanceof LarderError) throw err;
    throw new InvalidError(`cannot encode value: ${(err as Error).message}`, { cause: err });
  } finally {
    idle = writer;
  }
}

// ---- reading ----

class Malformed extends Error {}

/**
 * Node's Buffer#utf8Slice, which Buffer#toString("utf8", ...) calls after checking its
 * arguments again: a third of the cost of a 30-byte string (cpu profile of decoding 100
 * crawler jobs). Where it is missing (the console's browser Buffer), toString.
 */
const utf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (start: number, end: number) => string }).utf8Slice;

/** The big-endian u32 at `p` (the caller checked the bounds). */
function be32(src: Uint8Array, p: number): number {
  return src[p]! * 0x1000000 + ((src[p + 1]! << 16) | (src[p + 2]! << 8) | src[p + 3]!);
}

const KEY_CACHE_SLOTS = 4096;
const KEY_CACHE_BYTES_MAX = 24;
const keyCache: Array<string | undefined> = new Array(KEY_CACHE_SLOTS).fill(undefined);

class Reader {
  src: Buffer;
  pos = 0;
  end: number;
  dataView: DataView | undefined = undefined;

  constructor(bytes: Uint8Array) {
    this.src = asBuffer(bytes);
    this.end = bytes.length;
  }

  fail(what: string, at = this.pos): never {
    throw new Malformed(`${what} at byte ${at}`);
  }

  need(n: number): void {
    if (this.end - this.pos < n) this.fail(`truncated: ${n} more bytes needed`);
  }

  u8(): number {
    if (this.pos >= this.end) this.fail("truncated: a value was expected");
    return this.src[this.pos++]!;
  }

  // Integers by hand: Buffer's readUInt16BE and the like check their arguments again.
  u16(): number {
    this.need(2);
    const src = this.src;
    const p = this.pos;
    this.pos = p + 2;
    return (src[p]! << 8) | src[p + 1]!;
  }

  u32(): number {
    this.need(4);
    const src = this.src;
    const p = this.pos;
    this.pos = p + 4;
    return src[p]! * 0x1000000 + ((src[p + 1]! << 16) | (src[p + 2]! << 8) | src[p + 3]!);
  }

  /** A 64-bit integer: a number when safe, else a bigint. */
  int64(signed: boolean): number | bigint {
    this.need(8);
    const hi = signed ? this.src.readInt32BE(this.pos) : this.src.readUInt32BE(this.pos);
    const lo = this.src.readUInt32BE(this.pos + 4);
    this.pos += 8;
    const n = hi * TWO_32 + lo;
    if (Number.isSafeInteger(n)) return n;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** One value. Small, so that it inlines into the loops of arrays and maps; the rest is `tagged`. */
  value(depth: number): unknown {
    const at = this.pos;
    if (at >= this.end) this.fail("truncated: a value was expected");
    const tag = this.src[at]!;
    this.pos = at + 1;
    if (tag < 0x80) return tag;
    if (tag === 0xcb) return this.float64();
    return this.tagged(tag, at, depth);
  }

  float64(): number {
    this.need(8);
    const p = this.pos;
    this.pos = p + 8;
    // Through a DataView (made for the first float of a value): TurboFan inlines getFloat64,
    // where Buffer.readDoubleBE costs twice as much.
    const src = this.src;
    return (this.dataView ??= new DataView(src.buffer, src.byteOffset, src.byteLength)).getFloat64(p);
  }

  tagged(tag: number, at: number, depth: number): unknown {
    if (tag >= 0xe0) return tag - 0x100;
    if (tag >= 0xa0 && tag < 0xc0) return this.string(tag & 0x1f);
    if (tag < 0x90) return this.object(tag & 0x0f, depth + 1, at);
    if (tag < 0xa0) return this.array(tag & 0x0f, depth + 1, at);
    switch (tag) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.u8());
      case 0xc5:
        return this.bin(this.u16());
      case 0xc6:
        return this.bin(this.u32());
      case 0xc7:
        return this.ext(this.u8(), at, depth);
      case 0xc8:
        return this.ext(this.u16(), at, depth);
      case 0xc9:
        return this.ext(this.u32(), at, depth);
      case 0xca: {
        this.need(4);
        const v = this.src.readFloatBE(this.pos);
        this.pos += 4;
        return v;
      }
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return this.int64(false);
      case 0xd0:
        return (this.u8() << 24) >> 24;
      case 0xd1:
        return (this.u16() << 16) >> 16;
      case 0xd2:
        return this.u32() | 0;
      case 0xd3:
        return this.int64(true);
      case 0xd4:
        return this.ext(1, at, depth);
      case 0xd5:
        return this.ext(2, at, depth);
      case 0xd6:
        return this.ext(4, at, depth);
      case 0xd7:
        return this.ext(8, at, depth);
      case 0xd8:
        return this.ext(16, at, depth);
      case 0xd9:
        return this.string(this.u8());
      case 0xda:
        return this.string(this.u16());
      case 0xdb:
        return this.string(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth + 1, at);
      case 0xdd:
        return this.array(this.u32(), depth + 1, at);
      case 0xde:
        return this.object(this.u16(), depth + 1, at);
      case 0xdf:
        return this.object(this.u32(), depth + 1, at);
      default:
        return this.fail("0xc1 is not a MessagePack type", at);
    }
  }

  string(n: number): string {
    this.need(n);
    const src = this.src;
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    if (n < 8) {
      // Short ASCII by hand: cheaper than a native call (scratch measurement: 5 bytes 31 vs 77 ns).
      let out = "";
      for (let i = start; i < end; i++) {
        const c = src[i]!;
        if (c >= 0x80) return this.utf8(start, end);
        out += String.fromCharCode(c);
      }
      return out;
    }
    return this.utf8(start, end);
  }

  /**
   * A map key of `n` bytes (a fixstr). Keys repeat from value to value, so short ASCII keys
   * come from a small cache: the same string object each time, already internalized as a
   * property name, instead of a fresh one to build and hash.
   */
  key(n: number): string {
    if (n === 0 || n > KEY_CACHE_BYTES_MAX) return this.string(n);
    this.need(n);
    const src = this.src;
    const start = this.pos;
    let hash = n;
    for (let i = start; i < start + n; i++) hash = (Math.imul(hash, 31) + src[i]!) | 0;
    const slot = hash & (KEY_CACHE_SLOTS - 1);
    const cached = keyCache[slot];
    if (cached !== undefined && cached.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (cached.charCodeAt(i) !== src[start + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.pos += n;
        return cached;
      }
    }
    const key = this.string(n);
    // Only ASCII keys are cached: for them one char is one byte, which the check above relies on.
    if (key.length === n) keyCache[slot] = key;
    return key;
  }

  utf8(start: number, end: number): string {
    const src = this.src;
    const out = utf8Slice !== undefined ? utf8Slice.call(src, start, end) : src.toString("utf8", start, end);
    // toString replaces invalid UTF-8 with U+FFFD: only then is there something to check.
    if (out.includes("\ufffd") && !isUtf8(this.src.subarray(start, end))) this.fail("a str that is not valid UTF-8", start);
    return out;
  }

  /** `n` bytes copied into a Uint8Array of their own. */
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = new Uint8Array(n);
    out.set(this.src.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  bin(n: number): Uint8Array {
    return this.bytes(n);
  }

  array(n: number, depth: number, at: number): unknown[] {
    if (depth > VALUE_NESTING_MAX) this.fail(`nested more than ${VALUE_NESTING_MAX} levels deep`, at);
    // Every element takes at least one byte: a length beyond what is left is a lie, not an allocation.
    if (n > this.end - this.pos) this.fail(`truncated: an array of ${n} elements`, at);
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth);
    return out;
  }

  object(n: number, depth: number, at: number): Record<string, unknown> {
    if (depth > VALUE_NESTING_MAX) this.fail(`nested more than ${VALUE_NESTING_MAX} levels deep`, at);
    if (n * 2 > this.end - this.pos) this.fail(`truncated: a map of ${n} entries`, at);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const keyAt = this.pos;
      if (keyAt >= this.end) this.fail("truncated: a map key was expected");
      const tag = this.src[keyAt]!;
      let key: string;
      if (tag >= 0xa0 && tag < 0xc0) {
        this.pos++;
        key = this.key(tag & 0x1f);
      } else if (tag >= 0xd9 && tag <= 0xdb) {
        key = this.value(depth) as string;
      } else {
        this.fail("a map key that is not a str (a Map is extension 2)", keyAt);
      }
      const value = this.value(depth);
      if (Object.hasOwn(out, key)) this.fail(`the map key ${JSON.stringify(key)} twice`, keyAt);
      if (key === "__proto__") {
        Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
      } else {
        out[key] = value;
      }
    }
    return out;
  }

  ext(n: number, at: number, depth: number): unknown {
    this.need(1);
    const type = (this.src[this.pos++]! << 24) >> 24;
    this.need(n);
    const start = this.pos;
    const end = start + n;
    switch (type) {
      case EXT_UNDEFINED:
        if (n !== 0) this.fail("an undefined (extension 0) with a payload", at);
        return undefined;
      case EXT_BIGINT:
        this.pos = end;
        return this.bigint(start, n, at);
      case EXT_TIMESTAMP:
        this.pos = end;
        return this.timestamp(start, n, at);
      case EXT_VIEW:
        return this.view(n, at);
      case EXT_MAP:
        return this.inside(end, at, () => {
          const tag = this.u8();
          let size: number;
          if (tag >= 0x80 && tag < 0x90) size = tag & 0x0f;
          else if (tag === 0xde) size = this.u16();
          else if (tag === 0xdf) size = this.u32();
          else return this.fail("a Map (extension 2) whose payload is not a map", start);
          if (depth + 1 > VALUE_NESTING_MAX) this.fail(`nested more than ${VALUE_NESTING_MAX} levels deep`, at);
          if (size * 2 > this.end - this.pos) this.fail(`truncated: a Map of ${size} entries`, at);
          const out = new Map<unknown, unknown>();
          for (let i = 0; i < size; i++) {
            const keyAt = this.pos;
            const key = this.value(depth + 1);
            out.set(key, this.value(depth + 1));
            if (out.size !== i + 1) this.fail("a Map key twice", keyAt);
          }
          return out;
        });
      case EXT_SET:
        return this.inside(end, at, () => {
          const tag = this.u8();
          let size: number;
          if (tag >= 0x90 && tag < 0xa0) size = tag & 0x0f;
          else if (tag === 0xdc) size = this.u16();
          else if (tag === 0xdd) size = this.u32();
          else return this.fail("a Set (extension 3) whose payload is not an array", start);
          if (depth + 1 > VALUE_NESTING_MAX) this.fail(`nested more than ${VALUE_NESTING_MAX} levels deep`, at);
          if (size > this.end - this.pos) this.fail(`truncated: a Set of ${size} elements`, at);
          const out = new Set<unknown>();
          for (let i = 0; i < size; i++) {
            const elementAt = this.pos;
            out.add(this.value(depth + 1));
            if (out.size !== i + 1) this.fail("a Set element twice", elementAt);
          }
          return out;
        });
      case EXT_REGEXP:
        return this.inside(end, at, () => {
          if (this.u8() !== 0x92) this.fail("a RegExp (extension 5) whose payload is not [source, flags]", start);
          const source = this.value(depth);
          const flags = this.value(depth);
          if (typeof source !== "string" || typeof flags !== "string") this.fail("a RegExp (extension 5) whose source or flags is not a str", start);
          try {
            return new RegExp(source, flags);
          } catch (err) {
            return this.fail(`a RegExp (extension 5) that does not compile (${(err as Error).message})`, start);
          }
        });
      default:
        return this.fail(`unknown extension type ${type}`, at);
    }
  }

  /** Reads one value with `end` as the limit, which it must reach exactly (an extension's payload). */
  inside<T>(end: number, at: number, read: () => T): T {
    const outer = this.end;
    this.end = end;
    const out = read();
    if (this.pos !== end) this.fail("an extension payload with bytes after its value", at);
    this.end = outer;
    return out;
  }

  bigint(start: number, n: number, at: number): bigint {
    if (n === 0) this.fail("a bigint (extension 1) without bytes", at);
    if (n <= 6) return BigInt(this.src.readIntBE(start, n));
    const magnitude = BigInt(`0x${this.src.toString("hex", start, start + n)}`);
    return this.src[start]! >= 0x80 ? magnitude - (1n << BigInt(n * 8)) : magnitude;
  }

  timestamp(start: number, n: number, at: number): Date {
    const src = this.src;
    let seconds: number;
    let nanos: number;
    if (n === 4) {
      seconds = be32(src, start);
      nanos = 0;
    } else if (n === 8) {
      const hi = be32(src, start);
      nanos = hi >>> 2;
      seconds = (hi & 3) * TWO_32 + be32(src, start + 4);
    } else if (n === 12) {
      nanos = be32(src, start);
      seconds = (be32(src, start + 4) | 0) * TWO_32 + be32(src, start + 8);
    } else {
      return this.fail(`a timestamp of ${n} bytes (4, 8 or 12)`, at);
    }
    if (nanos > 999_999_999) this.fail("a timestamp with more than 999,999,999 nanoseconds", at);
    const ms = seconds * 1000 + Math.floor(nanos / 1_000_000);
    if (!(Math.abs(ms) <= DATE_MS_MAX)) this.fail("a timestamp out of a Date's range", at);
    return new Date(ms);
  }

  view(n: number, at: number): unknown {
    if (n === 0) this.fail("a binary view (extension 4) without its kind byte", at);
    const kind = this.src[this.pos++]!;
    const length = n - 1;
    if (kind === KIND_BUFFER) {
      const out = Buffer.allocUnsafe(length);
      this.src.copy(out, 0, this.pos, this.pos + length);
      this.pos += length;
      return out;
    }
    if (kind === KIND_ARRAY_BUFFER) return this.bytes(length).buffer;
    const cls = VIEW_KINDS[kind];
    if (cls === undefined) this.fail(`a binary view (extension 4) of unknown kind ${kind}`, at);
    if (length % cls.BYTES_PER_ELEMENT !== 0) this.fail(`a binary view of kind ${kind} whose ${length} bytes are not whole elements`, at);
    const bytes = this.bytes(length);
    if (!LITTLE_ENDIAN && cls.BYTES_PER_ELEMENT > 1) swapElements(bytes, cls.BYTES_PER_ELEMENT);
    return new cls(bytes.buffer as ArrayBuffer);
  }
}

const copyInto = Uint8Array.prototype.set;

/**
 * The value when `bytes` is exactly one bin, or one Buffer (extension 4, kind 12); undefined
 * for anything else, which the Reader reads (and checks) as usual.
 */
function decodeBytes(bytes: Uint8Array): Uint8Array | undefined {
  const size = bytes.length;
  if (size < 2) return undefined;
  const tag = bytes[0]!;
  let start: number;
  let n: number;
  if (tag === 0xc4) {
    start = 2;
    n = bytes[1]!;
  } else if (tag === 0xc5 && size >= 3) {
    start = 3;
    n = (bytes[1]! << 8) | bytes[2]!;
  } else if (tag === 0xc7 && size >= 4 && bytes[2] === EXT_VIEW && bytes[3] === KIND_BUFFER) {
    start = 4;
    n = bytes[1]! - 1;
  } else if (tag === 0xc8 && size >= 5 && bytes[3] === EXT_VIEW && bytes[4] === KIND_BUFFER) {
    start = 5;
    n = ((bytes[1]! << 8) | bytes[2]!) - 1;
  } else {
    return undefined;
  }
  if (start + n !== size) return undefined;
  // Through a plain Uint8Array view, not subarray: on a Buffer that would build a Buffer.
  const from = new Uint8Array(bytes.buffer, bytes.byteOffset + start, n);
  const out = tag === 0xc4 || tag === 0xc5 ? new Uint8Array(n) : Buffer.allocUnsafe(n);
  copyInto.call(out, from, 0);
  return out;
}

/** The string when `bytes` is exactly one valid str of 8 bytes or more; undefined for anything else. */
function decodeString(bytes: Uint8Array): string | undefined {
  const size = bytes.length;
  const tag = bytes[0]!;
  let start: number;
  if ((tag & 0xe0) === 0xa0) start = 1;
  else if (tag === 0xd9) start = 2;
  else if (tag === 0xda) start = 3;
  else return undefined;
  const n = start === 1 ? tag & 0x1f : start === 2 ? bytes[1]! : (bytes[1]! << 8) | bytes[2]!;
  if (n < 8 || start + n !== size) return undefined;
  const buf = asBuffer(bytes);
  const out = buf.toString("utf8", start, size);
  if (out.includes("\ufffd") && !isUtf8(buf.subarray(start, size))) return undefined; // the Reader says what is wrong
  return out;
}

/** Decodes stored bytes; DeserializationError when they are not one well-formed value. */
export function decodeValue(bytes: Uint8Array): unknown {
  const fast = decodeBytes(bytes);
  if (fast !== undefined) return fast;
  const string = decodeString(bytes);
  if (string !== undefined) return string;
  const reader = new Reader(bytes);
  let value: unknown;
  try {
    if (bytes.length === 0) reader.fail("no bytes");
    value = reader.value(0);
    if (reader.pos !== reader.end) reader.fail(`${reader.end - reader.pos} bytes after the value`);
    if (value === undefined) reader.fail("undefined as the whole value");
  } catch (err) {
    if (err instanceof Malformed) throw new DeserializationError(`cannot decode value: ${err.message}`);
    if (err instanceof RangeError) throw new DeserializationError(`cannot decode value: ${err.message}`, { cause: err });
    throw err;
  }
  return value;
}
