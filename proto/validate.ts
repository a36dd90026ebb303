// Argument rules shared by the engine, the server edge and the client. Each check throws
// InvalidError (or RequestSizeError for sizes) with a message that says what is allowed.

import { InvalidError, RequestSizeError } from "./errors.ts";

export type ObjectKind = "dict" | "queue";

const NAME_CHARS = /^[A-Za-z0-9._-]+$/;
const APP_ID = /^ap-[A-Za-z0-9]{22}$/;
const ENVIRONMENT = /^[A-Za-z0-9][A-Za-z0-9._-]+$/;
export const NAME_LENGTH_MAX = 64;
export const ENVIRONMENT_LENGTH_MAX = 64;

export const DEFAULT_ENVIRONMENT = "main";

/** A value for a message: JSON, cut short so that a huge argument does not make a huge message. */
function preview(value: unknown): string {
  const text = typeof value === "string" ? JSON.stringify(value) : typeof value === "bigint" ? `${value}n` : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}... (${typeof value === "string" ? `${value.length} characters` : "cut"})` : text;
}

function kindLabel(kind: ObjectKind): string {
  return kind === "dict" ? "Dict" : "Queue";
}

export function validateName(kind: ObjectKind, name: unknown): string {
  const ok =
    typeof name === "string" &&
    name.length >= 1 &&
    name.length <= NAME_LENGTH_MAX &&
    NAME_CHARS.test(name) &&
    !APP_ID.test(name);
  if (!ok) {
    throw new InvalidError(
      `Invalid ${kindLabel(kind)} name: ${preview(name)}. Names are 1 to ${NAME_LENGTH_MAX} characters of ` +
        `letters, digits, '.', '_' and '-', and may not look like an App id (ap- followed by 22 letters or digits).`,
    );
  }
  return name;
}

export function validateEnvironment(environment: unknown): string {
  const ok =
    typeof environment === "string" &&
    environment.length >= 2 &&
    environment.length <= ENVIRONMENT_LENGTH_MAX &&
    ENVIRONMENT.test(environment);
  if (!ok) {
    throw new InvalidError(
      `Invalid environment: ${preview(environment)}. Environments are 2 to ${ENVIRONMENT_LENGTH_MAX} characters ` +
        `of letters, digits, '.', '_' and '-', starting with a letter or digit.`,
    );
  }
  return environment;
}

/**
 * Partition keys: undefined is the default partition; otherwise 1 to `bytesMax` UTF-8
 * bytes. Returns the UTF-8 bytes of the key, empty for the default partition.
 */
/** A string with an unpaired UTF-16 surrogate has no UTF-8 form; encoders turn it into U+FFFD. */
export function loneSurrogate(what: string): InvalidError {
  return new InvalidError(`${what} may not contain a lone surrogate (an unpaired UTF-16 code unit): it has no UTF-8 form`);
}

export function validatePartition(partition: unknown, bytesMax: number): Buffer {
  if (partition === undefined || partition === null) return EMPTY;
  if (typeof partition !== "string") {
    throw new InvalidError(`partition must be a string of 1 to ${bytesMax} UTF-8 bytes, got ${typeof partition}`);
  }
  if (!partition.isWellFormed()) throw loneSurrogate("Queue partition key");
  const bytes = Buffer.from(partition, "utf8");
  if (bytes.length < 1 || bytes.length > bytesMax) {
    throw new InvalidError(`Queue partition key must be between 1 and ${bytesMax} UTF-8 bytes, got ${bytes.length}`);
  }
  return bytes;
}

const EMPTY = Buffer.alloc(0);

/**
 * A page of `queuePartitions` holds at most this many partitions, whatever `limit` asks:
 * about 100 bytes each on the wire (a 64-byte key and three numbers), so about 100 KB.
 */
export const PARTITIONS_PAGE_MAX = 1_000;

/**
 * A `queuePartitions` request: its `limit` (capped at PARTITIONS_PAGE_MAX) and the
 * partition key to start after, as bytes. `after: ""` names the default partition (whose
 * key is empty), so a page can start after it; absent starts before it.
 */
export function validatePartitionsPage(request: unknown, bytesMax: number): { limit: number; after: Buffer | undefined } {
  if (request === null || typeof request !== "object") throw new InvalidError("queuePartitions takes a request object");
  const r = request as { limit?: unknown; after?: unknown };
  const limit = Math.min(validateCount("limit", r.limit, 1), PARTITIONS_PAGE_MAX);
  const after = r.after;
  if (after === undefined || after === null) return { limit, after: undefined };
  if (typeof after !== "string") throw new InvalidError(`after must be a partition key (a string), got ${typeof after}`);
  if (!after.isWellFormed()) throw loneSurrogate("after");
  const bytes = Buffer.from(after, "utf8");
  if (bytes.length > bytesMax) throw new InvalidError(`after must be a partition key of at most ${bytesMax} UTF-8 bytes, got ${bytes.length}`);
  return { limit, after: bytes };
}


/** `timeoutMs`: undefined waits without limit, 0 is one attempt, a positive value waits that long. */
export function validateTimeout(name: string, value: unknown, absent = "wait forever"): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidError(`${name} must be undefined (${absent}), 0 (one attempt) or a finite positive number of ms, got ${String(value)}`);
  }
  return value;
}

/** A TTL in ms: positive; Infinity means never. */
export function validateTtl(name: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || Number.isNaN(value) || value <= 0) {
    throw new InvalidError(`${name} must be a positive number of ms (Infinity for never), got ${String(value)}`);
  }
  return value;
}

export function validateCount(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new InvalidError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export function validateBoolean(name: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw new InvalidError(`${name} must be a boolean, got ${typeof value}`);
  return value;
}

/**
 * A bearer token: visible ASCII, no spaces (RFC 6750 allows fewer characters still). Any
 * other character cannot travel in an Authorization header as the same bytes, so a server
 * with such a token could never be reached, and a client could never send it.
 */
export function validateToken(token: unknown): string | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== "string" || !/^[\x21-\x7e]+$/.test(token)) {
    throw new InvalidError("token must be a non-empty string of visible ASCII characters (no spaces or other characters)");
  }
  return token;
}

export function checkBytes(what: string, length: number, max: number): void {
  if (length > max) throw new RequestSizeError(`${what} is ${length} bytes, over the limit of ${max} bytes`);
}
