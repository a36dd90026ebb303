// The error registry: one row per stable code, tying together the class users catch,
// the HTTP status the server answers with, and a sentence on what it means.
// Codes never change; messages may. docs/errors.md lists the same table, and
// test/docs/errors-doc.test.ts fails when the two disagree.

export type ErrorCode =
  | "INVALID"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "KEY_NOT_FOUND"
  | "QUEUE_EMPTY"
  | "QUEUE_FULL"
  | "TOO_LARGE"
  | "RESOURCE_EXHAUSTED"
  | "DESERIALIZATION"
  | "UNAUTHENTICATED"
  | "LOCKED"
  | "CLOSED"
  | "UNAVAILABLE"
  | "LEASE_EXPIRED"
  | "INTERNAL";

/** Base class of every error Larder throws on purpose. `code` is stable; `message` is not. */
export class LarderError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "LarderError";
  }
}

function defineError<C extends ErrorCode>(name: string, code: C) {
  const cls = class extends LarderError {
    static readonly code: C = code;
    constructor(message?: string, options?: { cause?: unknown }) {
      super(code, message ?? `${name} (${code})`, options);
      this.name = name;
    }
  };
  Object.defineProperty(cls, "name", { value: name });
  return cls;
}

/** Bad argument: wrong type, out of range, invalid name or partition key. */
export const InvalidError = defineError("InvalidError", "INVALID");
export type InvalidError = InstanceType<typeof InvalidError>;
/** No object with that name or id (or it was deleted). */
export const NotFoundError = defineError("NotFoundError", "NOT_FOUND");
export type NotFoundError = InstanceType<typeof NotFoundError>;
/** `create` of a name that is taken, without `allowExisting`. */
export const AlreadyExistsError = defineError("AlreadyExistsError", "ALREADY_EXISTS");
export type AlreadyExistsError = InstanceType<typeof AlreadyExistsError>;
/** `Dict.pop(key)` of a missing key without a fallback. */
export const KeyError = defineError("KeyError", "KEY_NOT_FOUND");
export type KeyError = InstanceType<typeof KeyError>;
/** `Queue.get`/`getMany` found nothing within `timeoutMs`. */
export const QueueEmptyError = defineError("QueueEmptyError", "QUEUE_EMPTY");
export type QueueEmptyError = InstanceType<typeof QueueEmptyError>;
/** `Queue.put`/`putMany` found no room within `timeoutMs`. */
export const QueueFullError = defineError("QueueFullError", "QUEUE_FULL");
export type QueueFullError = InstanceType<typeof QueueFullError>;
/** A value, key, item or request over its size limit. */
export const RequestSizeError = defineError("RequestSizeError", "TOO_LARGE");
export type RequestSizeError = InstanceType<typeof RequestSizeError>;
/** A count limit reached: partitions per queue, bytes per dict. */
export const ResourceExhaustedError = defineError("ResourceExhaustedError", "RESOURCE_EXHAUSTED");
export type ResourceExhaustedError = InstanceType<typeof ResourceExhaustedError>;
/** Stored bytes that the codec cannot decode. */
export const DeserializationError = defineError("DeserializationError", "DESERIALIZATION");
export type DeserializationError = InstanceType<typeof DeserializationError>;
/** Missing or wrong bearer token. */
export const AuthError = defineError("AuthError", "UNAUTHENTICATED");
export type AuthError = InstanceType<typeof AuthError>;
/** The data folder is already open, in this or another process; or the server's port is in use. */
export const LockedError = defineError("LockedError", "LOCKED");
export type LockedError = InstanceType<typeof LockedError>;
/** The store, or the handle, was closed. */
export const ClosedError = defineError("ClosedError", "CLOSED");
export type ClosedError = InstanceType<typeof ClosedError>;
/** The server could not be reached after bounded retries. */
export const UnavailableError = defineError("UnavailableError", "UNAVAILABLE");
export type UnavailableError = InstanceType<typeof UnavailableError>;
const LeaseExpiredBase = defineError("LeaseExpiredError", "LEASE_EXPIRED");
/**
 * A reservation whose lease has ended: its item is visible again, reserved anew or
 * dead-lettered. `q.ack(list)` puts the reservations it refused in `refused`, after it has
 * acked the rest; every other call leaves it empty.
 */
export class LeaseExpiredError extends LeaseExpiredBase {
  refused: unknown[] = [];
}
Object.defineProperty(LeaseExpiredError, "name", { value: "LeaseExpiredError" });
/** A bug or a storage failure; details are logged, not sent. */
export const InternalError = defineError("InternalError", "INTERNAL");
export type InternalError = InstanceType<typeof InternalError>;

export interface ErrorSpec {
  readonly code: ErrorCode;
  readonly className: string;
  readonly httpStatus: number;
  readonly meaning: string;
  readonly create: (message?: string, options?: { cause?: unknown }) => LarderError;
}

function spec(
  cls: { code: ErrorCode; name: string; new (message?: string, options?: { cause?: unknown }): LarderError },
  httpStatus: number,
  meaning: string,
): ErrorSpec {
  return {
    code: cls.code,
    className: cls.name,
    httpStatus,
    meaning,
    create: (message, options) => new cls(message, options),
  };
}

/** The registry, in the order of the spec's table. */
export const ERRORS: readonly ErrorSpec[] = [
  spec(InvalidError, 400, "A bad argument: wrong type, out of range, invalid name, environment or partition key."),
  spec(NotFoundError, 404, "No object with that name or id in that environment, or it was deleted."),
  spec(AlreadyExistsError, 409, "`create` of a name that already exists, without `allowExisting`."),
  spec(KeyError, 404, "`Dict.pop(key)` of a missing key without a fallback."),
  spec(QueueEmptyError, 408, "`Queue.get`/`getMany` found no item within `timeoutMs`."),
  spec(QueueFullError, 429, "`Queue.put`/`putMany` found no room in the partition within `timeoutMs`; the message names the limit."),
  spec(RequestSizeError, 413, "A key, value, item, batch or request body over its size limit; nothing of the call was written."),
  spec(ResourceExhaustedError, 429, "A count limit reached: partitions per queue, or bytes per dict."),
  spec(DeserializationError, 422, "Stored or received bytes that the codec cannot decode."),
  spec(AuthError, 401, "A missing or wrong bearer token; nothing was read or written."),
  spec(LockedError, 423, "The data folder is already open, in this or another process; or (`startServer`, `larder serve`) the port is in use."),
  spec(ClosedError, 503, "The store or handle was closed; pending waits are rejected with it."),
  spec(UnavailableError, 503, "The server could not be reached after bounded retries."),
  spec(LeaseExpiredError, 409, "A reservation whose lease has ended (its item is visible again, reserved anew or dead-lettered): `ack`, `release` or `extend` refused."),
  spec(InternalError, 500, "A bug or a storage failure; the details are logged on the server, not sent."),
];

/**
 * Statuses the HTTP edge answers with before any route runs (server/http-edge.ts, body.ts),
 * besides each code's own: the code they carry, and when. docs/errors.md lists them too.
 */
export interface EdgeStatus {
  readonly httpStatus: number;
  readonly code: ErrorCode;
  readonly meaning: string;
}

export const EDGE_STATUSES: readonly EdgeStatus[] = [
  { httpStatus: 405, code: "INVALID", meaning: "A known path with the wrong method (also `CONNECT`); the `Allow` header names the right one." },
  { httpStatus: 408, code: "INVALID", meaning: "The request's headers or body did not arrive within the server's timeouts; the connection closes." },
  { httpStatus: 415, code: "INVALID", meaning: "The request's `Content-Type` is not MessagePack." },
  { httpStatus: 417, code: "INVALID", meaning: "An `Expect` header other than `100-continue`." },
  { httpStatus: 431, code: "TOO_LARGE", meaning: "The request's headers are over the server's bound; the connection closes." },
];

const byCode = new Map<string, ErrorSpec>(ERRORS.map((e) => [e.code, e]));

export function errorSpec(code: string): ErrorSpec | undefined {
  return byCode.get(code);
}

/** Rebuilds the error class for a code received from a server; unknown codes become INTERNAL. */
export function errorFromCode(code: string, message: string): LarderError {
  const found = byCode.get(code);
  return found ? found.create(message) : new InternalError(`${code}: ${message}`);
}

export function isLarderError(err: unknown): err is LarderError {
  return err instanceof LarderError;
}
