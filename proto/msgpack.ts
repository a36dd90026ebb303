// The few MessagePack headers the envelope writer (proto/wire.ts) writes and reads itself;
// everything else of the envelope is msgpackr's. (The value codec, proto/values.ts, is its
// own and uses only asBuffer from here.) Sized types (bin, ext, str) come in 8-, 16- and 32-bit length forms whose
// type bytes follow each other: tag8, tag8 + 1, tag8 + 2.

export const BIN8 = 0xc4;
export const EXT8 = 0xc7;
export const STR8 = 0xd9;
export const FIXSTR = 0xa0;
/** Strings shorter than this fit their length in the type byte (fixstr). */
const FIXSTR_LIMIT = 0x20;

/** A view of `bytes` as a Buffer, without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Header bytes of a bin, ext or str8/16/32 whose length field holds `n`. */
export function sizedHeaderBytes(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Writes the header of a sized type (`tag8` names its 8-bit form); returns the position after it. */
export function writeSizedHeader(out: Buffer, at: number, n: number, tag8: number): number {
  if (n < 0x100) {
    out[at] = tag8;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = tag8 + 1;
    out.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  out[at] = tag8 + 2;
  out.writeUInt32BE(n, at + 1);
  return at + 5;
}

/** The length field and where the payload starts, if `bytes` begins with a header of the sized type `tag8`. */
export function readSizedHeader(bytes: Uint8Array, tag8: number): { start: number; length: number } | undefined {
  const tag = bytes[0]!;
  const size = bytes.length;
  if (tag === tag8 && size >= 2) return { start: 2, length: bytes[1]! };
  if (tag === tag8 + 1 && size >= 3) return { start: 3, length: (bytes[1]! << 8) | bytes[2]! };
  if (tag === tag8 + 2 && size >= 5) return { start: 5, length: ((bytes[1]! << 24) >>> 0) + ((bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) };
  return undefined;
}

/** Bytes a string of `utf8Bytes` UTF-8 bytes packs to. */
export function packedStringBytes(utf8Bytes: number): number {
  return (utf8Bytes < FIXSTR_LIMIT ? 1 : sizedHeaderBytes(utf8Bytes)) + utf8Bytes;
}

/** Writes `value` as a MessagePack str of `utf8Bytes` bytes; returns the position after it. */
export function writeString(out: Buffer, at: number, value: string, utf8Bytes: number): number {
  let start: number;
  if (utf8Bytes < FIXSTR_LIMIT) {
    out[at] = FIXSTR | utf8Bytes;
    start = at + 1;
  } else {
    start = writeSizedHeader(out, at, utf8Bytes, STR8);
  }
  return start + out.write(value, start, utf8Bytes, "utf8");
}
