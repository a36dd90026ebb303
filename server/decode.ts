// Decoding a request body into an envelope, for every transport: a body past 64 KiB is
// measured by its MessagePack headers first (proto/chunked.ts), then unpacked, its strings
// checked for UTF-8, and the result must be a map with string keys (server/envelope.ts).

import { InvalidError, RequestSizeError } from "../proto/errors.ts";
import { unpackEnvelope } from "../proto/wire.ts";
import { TooManyValues, endOfValue, stringsAreUtf8 } from "../proto/chunked.ts";
import { asEnvelope, type Envelope } from "./envelope.ts";

/**
 * Bodies up to this size are unpacked at once. A bigger one is first measured by its
 * headers (proto/chunked.ts): bytes after the envelope are refused there, not by msgpackr,
 * whose error message for them is a JSON dump of everything it decoded (a 255 MiB put with
 * one byte too many ran the server out of memory), and so is a body of more values than
 * any call needs (100 million empty items in a 200 MB put did the same).
 */
const MEASURED_BODY_BYTES_MIN = 64 * 1024;

export function decodeEnvelope(body: Buffer, valuesMax: number): Envelope {
  if (body.length > MEASURED_BODY_BYTES_MIN) {
    let end: number;
    try {
      end = endOfValue(body, valuesMax);
    } catch (err) {
      if (err instanceof TooManyValues) {
        throw new RequestSizeError(`the request body holds more than ${valuesMax} MessagePack values, more than any call needs`);
      }
      throw new InvalidError(`malformed MessagePack body: ${(err as Error).message}`);
    }
    if (end !== body.length) throw new InvalidError(`malformed MessagePack body: ${body.length - end} bytes after the envelope`);
  }
  let decoded: unknown;
  try {
    decoded = unpackEnvelope(body);
  } catch (err) {
    throw new InvalidError(`malformed MessagePack body: ${(err as Error).message}`);
  }
  // The decoder turns bytes that are not UTF-8 into U+FFFD: "caf\xe9" and "caf\xe8" would
  // both be the partition "caf\ufffd". Such strings are refused, not merged.
  if (mayHoldInvalidUtf8(decoded, 0) && !utf8Throughout(body)) {
    throw new InvalidError("a string in the request body is not valid UTF-8");
  }
  return asEnvelope(decoded);
}

/** stringsAreUtf8, with a body it cannot walk (msgpackr read it, so it should not happen) counted as not UTF-8. */
function utf8Throughout(body: Buffer): boolean {
  try {
    return stringsAreUtf8(body);
  } catch {
    return false;
  }
}

/** Envelopes are shallow; strings deeper than this are never read as fields. */
const ENVELOPE_STRING_DEPTH_MAX = 6;

/** Whether a decoded body holds a string with U+FFFD (the decoder's mark for invalid UTF-8, or a real one) or a lone surrogate. */
function mayHoldInvalidUtf8(value: unknown, depth: number): boolean {
  if (typeof value === "string") return value.includes("\ufffd") || !value.isWellFormed();
  if (typeof value !== "object" || value === null || value instanceof Uint8Array || depth >= ENVELOPE_STRING_DEPTH_MAX) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (mayHoldInvalidUtf8(value[i], depth + 1)) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) if (mayHoldInvalidUtf8(record[key], depth + 1)) return true;
  return false;
}
