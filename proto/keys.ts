// Dict key codec: an order-preserving byte encoding of the key types the spec allows.
// Two keys are the same key exactly when their encodings are equal bytes, and `keys()`
// yields keys in the byte order of their encodings, which is the order below.
//
// Grammar (every tag byte is persisted: DO NOT CHANGE):
//
//   key       = element
//   element   = false | true | number | bigint | string | bytes | array
//   false     = 0x10
//   true      = 0x11
//   number    = 0x20 f64-ordered              ; 8 bytes, see below
//   bigint    = 0x28 (0xff - len) ~magnitude  ; negative: len bytes of |n|, inverted
//             | 0x29 len magnitude            ; zero or positive: len bytes, big-endian, no leading zero
//   string    = 0x30 escaped(UTF-8) 0x00
//   bytes     = 0x38 escaped(raw) 0x00
//   array     = 0x40 element* 0x00
//   escaped   = each 0x00 byte written as 0x00 0xff
//
// So: false < true < every number < every bigint < every string < every byte string <
// every array. Numbers sort numerically (-Infinity first, NaN last; -0 is stored as 0,
// so 0 and -0 are one key, as in a JS Map). Bigints sort numerically. Strings sort by
// UTF-8 bytes, which is code point order. Arrays sort element by element, a prefix
// first. `1` and `1n` and `"1"` are three different keys.
//
// f64-ordered: the IEEE 754 big-endian bits with the sign bit flipped for positive
// numbers and every bit flipped for negative ones, so that unsigned byte order equals
// numeric order. NaN is written in one canonical form.

import { isUtf8 } from "node:buffer";
import { DeserializationError, InvalidError } from "./errors.ts";

export type DictKeyAtom = string | number | bigint | boolean | Uint8Array;
export type DictKey = DictKeyAtom | readonly DictKey[];

const TAG_FALSE = 0x10;
const TAG_TRUE = 0x11;
const TAG_NUMBER = 0x20;
const TAG_BIGINT_NEG = 0x28;
const TAG_BIGINT_POS = 0x29;
const TAG_STRING = 0x30;
const TAG_BYTES = 0x38;
const TAG_ARRAY = 0x40;
const END = 0x00;
const ESCAPE = 0xff;

/** Nesting depth allowed inside array keys; keys are index entries, not documents. */
export const KEY_DEPTH_MAX = 16;
/** Bigints are stored with a one-byte length: up to 255 bytes of magnitude. */
const BIGINT_BYTES_MAX = 255;

class KeyWriter {
  private buf = Buffer.allocUnsafe(64);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  escaped(bytes: Uint8Array): void {
    this.room(bytes.length * 2 + 1);
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      this.buf[this.length++] = b;
      if (b === 0) this.buf[this.length++] = ESCAPE;
    }
    this.buf[this.length++] = END;
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  f64(value: number): void {
    this.room(8);
    const v = Number.isNaN(value) ? NaN : value === 0 ? 0 : value;
    this.buf.writeDoubleBE(v, this.length);
    if (v >= 0 || Number.isNaN(v)) {
      this.buf[this.length] = this.buf[this.length]! ^ 0x80;
    } else {
      for (let i = 0; i < 8; i++) this.buf[this.length + i] = this.buf[this.length + i]! ^ 0xff;
    }
    this.length += 8;
  }

  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}

function writeBigint(w: KeyWriter, value: bigint): void {
  const negative = value < 0n;
  let magnitude = negative ? -value : value;
  const bytes: number[] = [];
  while (magnitude > 0n) {
    bytes.unshift(Number(magnitude & 0xffn));
    magnitude >>= 8n;
  }
  if (bytes.length > BIGINT_BYTES_MAX) {
    throw new InvalidError(`bigint keys may have at most ${BIGINT_BYTES_MAX * 8} bits`);
  }
  if (negative) {
    w.byte(TAG_BIGINT_NEG);
    w.byte(0xff - bytes.length);
    for (const b of bytes) w.byte(0xff - b);
  } else {
    w.byte(TAG_BIGINT_POS);
    w.byte(bytes.length);
    for (const b of bytes) w.byte(b);
  }
}

function writeElement(w: KeyWriter, value: unknown, depth: number): void {
  switch (typeof value) {
    case "boolean":
      w.byte(value ? TAG_TRUE : TAG_FALSE);
      return;
    case "number":
      w.byte(TAG_NUMBER);
      w.f64(value);
      return;
    case "bigint":
      writeBigint(w, value);
      return;
    case "string":
      if (!value.isWellFormed()) throw new InvalidError("string keys may not contain lone surrogates");
      w.byte(TAG_STRING);
      w.escaped(Buffer.from(value, "utf8"));
      return;
    case "object":
      if (value instanceof Uint8Array) {
        w.byte(TAG_BYTES);
        w.escaped(value);
        return;
      }
      if (Array.isArray(value)) {
        if (depth >= KEY_DEPTH_MAX) throw new InvalidError(`array keys may nest at most ${KEY_DEPTH_MAX} deep`);
        w.byte(TAG_ARRAY);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw new InvalidError("array keys may not have holes");
          writeElement(w, value[i], depth + 1);
        }
        w.byte(END);
        return;
      }
  }
  throw new InvalidError(
    `Dict keys must be string, number, bigint, boolean, Uint8Array or arrays of these; got ${describe(value)}`,
  );
}

/** Encodes a dict key; InvalidError for any other type. */
export function encodeKey(key: unknown): Buffer {
  // The common key, a string without NUL: tag, UTF-8, terminator, in one exact buffer.
  if (typeof key === "string" && key.indexOf("\u0000") < 0 && key.isWellFormed()) {
    const length = Buffer.byteLength(key, "utf8");
    const out = Buffer.allocUnsafe(length + 2);
    out[0] = TAG_STRING;
    out.write(key, 1, "utf8");
    out[length + 1] = END;
    return out;
  }
  const w = new KeyWriter();
  writeElement(w, key, 0);
  return w.done();
}

class KeyReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  fail(why: string): never {
    throw new DeserializationError(`malformed dict key at byte ${this.pos}: ${why}`);
  }

  byte(): number {
    if (this.pos >= this.buf.length) this.fail("unexpected end");
    return this.buf[this.pos++]!;
  }

  unescaped(): Buffer {
    // Most strings and byte strings contain no 0x00: then the run up to the terminator is the value.
    const end = this.buf.indexOf(END, this.pos);
    if (end >= 0 && this.buf[end + 1] !== ESCAPE) {
      const run = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, end - this.pos);
      this.pos = end + 1;
      return run;
    }
    const out: number[] = [];
    for (;;) {
      const b = this.byte();
      if (b !== END) {
        out.push(b);
        continue;
      }
      if (this.pos < this.buf.length && this.buf[this.pos] === ESCAPE) {
        this.pos++;
        out.push(0);
        continue;
      }
      return Buffer.from(out);
    }
  }

  f64(): number {
    if (this.pos + 8 > this.buf.length) this.fail("truncated number");
    const bytes = Buffer.from(this.buf.subarray(this.pos, this.pos + 8));
    this.pos += 8;
    if (bytes[0]! & 0x80) {
      bytes[0] = bytes[0]! ^ 0x80;
    } else {
      for (let i = 0; i < 8; i++) bytes[i] = bytes[i]! ^ 0xff;
    }
    return bytes.readDoubleBE(0);
  }

  element(depth: number): DictKey {
    const tag = this.byte();
    switch (tag) {
      case TAG_FALSE:
        return false;
      case TAG_TRUE:
        return true;
      case TAG_NUMBER:
        return this.f64();
      case TAG_BIGINT_POS:
      case TAG_BIGINT_NEG: {
        const negative = tag === TAG_BIGINT_NEG;
        const len = negative ? 0xff - this.byte() : this.byte();
        let magnitude = 0n;
        for (let i = 0; i < len; i++) {
          const b = this.byte();
          magnitude = (magnitude << 8n) | BigInt(negative ? 0xff - b : b);
        }
        return negative ? -magnitude : magnitude;
      }
      case TAG_STRING:
        return this.unescaped().toString("utf8");
      case TAG_BYTES:
        return new Uint8Array(this.unescaped());
      case TAG_ARRAY: {
        if (depth >= KEY_DEPTH_MAX) this.fail("nesting too deep");
        const items: DictKey[] = [];
        while (this.pos < this.buf.length && this.buf[this.pos] !== END) items.push(this.element(depth + 1));
        this.byte();
        return items;
      }
      default:
        return this.fail(`unknown tag 0x${tag.toString(16)}`);
    }
  }
}

/** Decodes an encoded key; DeserializationError if the bytes are not one well-formed key. */
export function decodeKey(bytes: Uint8Array): DictKey {
  const r = new KeyReader(bytes);
  const key = r.element(0);
  if (r.pos !== bytes.length) r.fail("trailing bytes");
  return key;
}

/**
 * True when the bytes are exactly one well-formed, canonical key encoding: what encodeKey
 * writes for some key, and nothing else. The server checks every key it is sent, so this
 * walks the grammar in place without decoding (no strings, no buffers): numbers may not
 * be -0 or a NaN other than the canonical one, bigints have no leading zero byte, strings
 * are well-formed UTF-8, escapes are consistent, arrays nest at most KEY_DEPTH_MAX deep.
 */
export function isCanonicalKey(bytes: Uint8Array): boolean {
  return canonicalElement(bytes, 0, 0) === bytes.length;
}

/** Canonical NaN and -0 as stored (after the order-preserving flips). */
const NAN_STORED = Buffer.from(encodeKey(NaN).subarray(1));
const NEGATIVE_ZERO_STORED = Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** The position after the element starting at `pos`, or -1 when it is not canonical. */
function canonicalElement(b: Uint8Array, pos: number, depth: number): number {
  if (pos >= b.length) return -1;
  const tag = b[pos++]!;
  switch (tag) {
    case TAG_FALSE:
    case TAG_TRUE:
      return pos;
    case TAG_NUMBER: {
      if (pos + 8 > b.length) return -1;
      if (equalAt(b, pos, NEGATIVE_ZERO_STORED)) return -1;
      // Stored NaNs: every exponent bit set and a non-zero fraction, in either flipped form.
      if (isStoredNaN(b, pos) && !equalAt(b, pos, NAN_STORED)) return -1;
      return pos + 8;
    }
    case TAG_BIGINT_POS: {
      if (pos >= b.length) return -1;
      const len = b[pos++]!;
      if (pos + len > b.length) return -1;
      if (len > 0 && b[pos] === 0) return -1;
      return pos + len;
    }
    case TAG_BIGINT_NEG: {
      if (pos >= b.length) return -1;
      const len = 0xff - b[pos++]!;
      if (len === 0 || pos + len > b.length) return -1;
      if (b[pos] === 0xff) return -1; // a leading zero byte of the magnitude, inverted
      return pos + len;
    }
    case TAG_STRING:
    case TAG_BYTES: {
      const end = escapedEnd(b, pos);
      if (end < 0) return -1;
      if (tag === TAG_STRING && !isUtf8Escaped(b, pos, end)) return -1;
      return end + 1;
    }
    case TAG_ARRAY: {
      if (depth >= KEY_DEPTH_MAX) return -1;
      for (;;) {
        if (pos >= b.length) return -1;
        if (b[pos] === END) return pos + 1;
        pos = canonicalElement(b, pos, depth + 1);
        if (pos < 0) return -1;
      }
    }
    default:
      return -1;
  }
}

function equalAt(b: Uint8Array, pos: number, want: Uint8Array): boolean {
  for (let i = 0; i < want.length; i++) if (b[pos + i] !== want[i]) return false;
  return true;
}

function isStoredNaN(b: Uint8Array, pos: number): boolean {
  // Undo the flips to get the IEEE bits: positive (stored sign bit 1) had only the sign flipped.
  const flip = b[pos]! & 0x80 ? 0x00 : 0xff;
  const b0 = (b[pos]! ^ flip) & 0x7f;
  const b1 = b[pos + 1]! ^ flip;
  if (b0 !== 0x7f || (b1 & 0xf0) !== 0xf0) return false;
  if ((b1 & 0x0f) !== 0) return true;
  for (let i = 2; i < 8; i++) if ((b[pos + i]! ^ flip) !== 0) return true;
  return false;
}

/** The index of the terminating 0x00 of an escaped run starting at `pos`, or -1. */
function escapedEnd(b: Uint8Array, pos: number): number {
  for (;;) {
    const zero = b.indexOf(END, pos);
    if (zero < 0) return -1;
    if (b[zero + 1] !== ESCAPE) return zero;
    pos = zero + 2;
  }
}

/** Whether the escaped run b[pos, end) unescapes to well-formed UTF-8. */
function isUtf8Escaped(b: Uint8Array, pos: number, end: number): boolean {
  const run = b.subarray(pos, end);
  // No escapes (no 0x00 in the text): the run is the text. 0xff never occurs in UTF-8.
  if (run.indexOf(END) < 0) return isUtf8(run);
  const text: number[] = [];
  for (let i = 0; i < run.length; i++) {
    text.push(run[i]!);
    if (run[i] === END) i++; // skip the escape byte
  }
  return isUtf8(Uint8Array.from(text));
}
