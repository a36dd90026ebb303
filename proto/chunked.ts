// Walking MessagePack by its headers alone, without building any value. Two uses:
// - the server measures a big request body before unpacking it (server/decode.ts): it
//   finds where the one value ends and counts the values in it, so that trailing bytes
//   and bodies of millions of tiny values are refused before they cost any memory;
// - the client reads a batch answer that arrived in many chunks without joining them. A batch
// answer can be bigger than the largest Buffer Node can make (4 GiB): 64 gets of a 70 MiB
// value are 4.4 GB. The client finds where each reply starts and ends by walking the
// MessagePack headers across the chunks, then unpacks each reply from its own bytes, so
// no buffer is ever bigger than one reply.

import { isUtf8 } from "node:buffer";
import { unpackEnvelope } from "./wire.ts";

/** The chunks of a body, read by absolute position. */
class Chunks {
  readonly length: number;
  private readonly starts: number[] = [];
  /** The chunk last read, so that reading forward from it costs nothing to find. */
  private at = 0;

  constructor(private readonly chunks: readonly Buffer[]) {
    let length = 0;
    for (const chunk of chunks) {
      this.starts.push(length);
      length += chunk.length;
    }
    this.length = length;
  }

  /** Index of the chunk holding `pos` (0 <= pos < length). */
  private find(pos: number): number {
    let i = this.at;
    if (pos < this.starts[i]!) i = 0;
    while (pos >= this.starts[i]! + this.chunks[i]!.length) i++;
    this.at = i;
    return i;
  }

  byte(pos: number): number {
    if (pos >= this.length) throw truncated();
    const i = this.find(pos);
    return this.chunks[i]![pos - this.starts[i]!]!;
  }

  /** A big-endian unsigned integer of `bytes` bytes (1, 2 or 4). */
  uint(pos: number, bytes: number): number {
    let n = 0;
    for (let k = 0; k < bytes; k++) n = n * 256 + this.byte(pos + k);
    return n;
  }

  /** The bytes [start, end): a view when they lie in one chunk, else a copy. */
  slice(start: number, end: number): Buffer {
    if (end > this.length) throw truncated();
    const i = this.find(start);
    const chunk = this.chunks[i]!;
    const offset = start - this.starts[i]!;
    if (end - start <= chunk.length - offset) return chunk.subarray(offset, offset + (end - start));
    const out = Buffer.allocUnsafe(end - start);
    let written = 0;
    for (let j = i; written < out.length; j++) {
      const from = j === i ? offset : 0;
      written += this.chunks[j]!.copy(out, written, from, Math.min(this.chunks[j]!.length, from + out.length - written));
    }
    return out;
  }
}

function truncated(): Error {
  return new Error("the MessagePack data ends early");
}

/** Thrown by `skip` when a value holds more values than it may. */
export class TooManyValues extends Error {}

/**
 * The position just after the one MessagePack value that starts at `pos`. `budget.left`
 * counts down the values met (containers and their elements alike); past zero, TooManyValues.
 */
function skip(data: Chunks, pos: number, budget?: { left: number }, utf8?: { firstInvalid: number }): number {
  // Values still to skip; a container adds its elements. Each needs at least one byte, so
  // a count beyond the bytes left is malformed (and cannot make this loop run long).
  let pending = 1;
  while (pending > 0) {
    pending--;
    if (budget !== undefined && --budget.left < 0) throw new TooManyValues();
    const tag = data.byte(pos);
    let size: number;
    if (tag <= 0x7f || tag >= 0xe0) size = 1;
    else if (tag <= 0x8f) (pending += 2 * (tag & 0x0f)), (size = 1);
    else if (tag <= 0x9f) (pending += tag & 0x0f), (size = 1);
    else if (tag <= 0xbf) size = 1 + (tag & 0x1f);
    else {
      switch (tag) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          size = 1;
          break;
        case 0xc4:
        case 0xd9:
          size = 2 + data.uint(pos + 1, 1);
          break;
        case 0xc5:
        case 0xda:
          size = 3 + data.uint(pos + 1, 2);
          break;
        case 0xc6:
        case 0xdb:
          size = 5 + data.uint(pos + 1, 4);
          break;
        case 0xc7:
          size = 3 + data.uint(pos + 1, 1);
          break;
        case 0xc8:
          size = 4 + data.uint(pos + 1, 2);
          break;
        case 0xc9:
          size = 6 + data.uint(pos + 1, 4);
          break;
        case 0xcc:
        case 0xd0:
          size = 2;
          break;
        case 0xcd:
        case 0xd1:
        case 0xd4:
          size = 3;
          break;
        case 0xd5:
          size = 4;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          size = 5;
          break;
        case 0xd6:
          size = 6;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          size = 9;
          break;
        case 0xd7:
          size = 10;
          break;
        case 0xd8:
          size = 18;
          break;
        case 0xdc:
          pending += data.uint(pos + 1, 2);
          size = 3;
          break;
        case 0xdd:
          pending += data.uint(pos + 1, 4);
          size = 5;
          break;
        case 0xde:
          pending += 2 * data.uint(pos + 1, 2);
          size = 3;
          break;
        case 0xdf:
          pending += 2 * data.uint(pos + 1, 4);
          size = 5;
          break;
        default:
          throw new Error(`invalid MessagePack type byte 0x${tag.toString(16)}`);
      }
    }
    if (utf8 !== undefined && utf8.firstInvalid < 0 && isStr(tag)) {
      const head = tag <= 0xbf ? 1 : tag === 0xd9 ? 2 : tag === 0xda ? 3 : 5;
      // An empty string is valid (and may end the body, where slice could not start).
      if (size > head && !isUtf8(data.slice(pos + head, pos + size))) utf8.firstInvalid = pos;
    }
    pos += size;
    if (pos > data.length || pending > data.length - pos) throw truncated();
  }
  return pos;
}

function isStr(tag: number): boolean {
  return (tag >= 0xa0 && tag <= 0xbf) || tag === 0xd9 || tag === 0xda || tag === 0xdb;
}

/**
 * Whether every MessagePack str in the one value at the start of `bytes` is valid UTF-8.
 * The decoder turns invalid bytes into U+FFFD, so two different byte strings can decode to
 * the same string; the server checks the bytes when a decoded string holds U+FFFD.
 * Throws, like endOfValue, when the value is malformed.
 */
export function stringsAreUtf8(bytes: Buffer): boolean {
  const utf8 = { firstInvalid: -1 };
  skip(new Chunks([bytes]), 0, undefined, utf8);
  return utf8.firstInvalid < 0;
}

/**
 * Where the one MessagePack value at the start of `bytes` ends (bytes after it are the
 * caller's to refuse), reading headers only. TooManyValues when it holds more than
 * `valuesMax` values; an Error when it is malformed or ends early.
 */
export function endOfValue(bytes: Buffer, valuesMax: number): number {
  return skip(new Chunks([bytes]), 0, { left: valuesMax });
}

/** The count of the map or array header at `pos` and where its first element starts; undefined if it is not one. */
function containerAt(data: Chunks, pos: number, fix: number, tag16: number): { count: number; next: number } | undefined {
  const tag = data.byte(pos);
  if ((tag & 0xf0) === fix) return { count: tag & 0x0f, next: pos + 1 };
  if (tag === tag16) return { count: data.uint(pos + 1, 2), next: pos + 3 };
  if (tag === tag16 + 1) return { count: data.uint(pos + 1, 4), next: pos + 5 };
  return undefined;
}

/**
 * Unpacks a batch answer `{ replies: [...] }` held in chunks, one reply at a time; other
 * fields of the map are skipped. Throws on anything else, or on bytes left over.
 */
export function unpackBatchReplyChunks(chunks: readonly Buffer[]): { replies: unknown[] } {
  const data = new Chunks(chunks);
  const map = containerAt(data, 0, 0x80, 0xde);
  if (map === undefined) throw new Error("a batch answer must be a map");
  let pos = map.next;
  let replies: unknown[] | undefined;
  for (let field = 0; field < map.count; field++) {
    const keyEnd = skip(data, pos);
    const key = unpackEnvelope(data.slice(pos, keyEnd));
    pos = keyEnd;
    if (key !== "replies") {
      pos = skip(data, pos);
      continue;
    }
    const list = containerAt(data, pos, 0x90, 0xdc);
    if (list === undefined) throw new Error("'replies' must be an array");
    pos = list.next;
    if (list.count > data.length - pos) throw truncated();
    replies = [];
    for (let i = 0; i < list.count; i++) {
      const end = skip(data, pos);
      replies.push(unpackEnvelope(data.slice(pos, end)));
      pos = end;
    }
  }
  if (pos !== data.length) throw new Error(`${data.length - pos} bytes after the batch answer`);
  if (replies === undefined) throw new Error("a batch answer must have 'replies'");
  return { replies };
}
