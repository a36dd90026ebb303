// Writing answers. Success bodies are MessagePack maps; every error body is JSON
// `{ code, message }` with the HTTP status of the error registry (proto/errors.ts), so a
// client can read an error without a MessagePack library. Internal errors are logged and
// leave as one opaque INTERNAL.

import type { IncomingMessage, ServerResponse } from "node:http";
import { InternalError, LarderError, errorSpec } from "../proto/errors.ts";
import { JSON_TYPE, MSGPACK_TYPE, packEnvelope } from "../proto/wire.ts";
import { UnsupportedMediaTypeError } from "./body.ts";

/** An unread body up to this size is read and discarded so the connection stays open; past it, the connection closes. */
const DRAIN_BYTES_MAX = 1024 * 1024;

export interface ErrorReply {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Maps any thrown value to the answer a client sees; only LarderErrors keep their message. */
export function errorReply(err: unknown, logError: (message: string, error: unknown) => void): ErrorReply {
  if (err instanceof UnsupportedMediaTypeError) return { status: 415, code: err.code, message: err.message };
  if (err instanceof LarderError && err.code !== "INTERNAL") {
    return { status: errorSpec(err.code)?.httpStatus ?? 500, code: err.code, message: err.message };
  }
  logError("internal error", err);
  return { status: 500, code: InternalError.code, message: "internal error; see the server log" };
}

/** Whether the connection must close after the answer: closing server, or a body left unread that is too big to discard. */
function mustClose(req: IncomingMessage, closing: boolean): boolean {
  if (closing) return true;
  if (req.complete) return false;
  // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3): nothing
  // is left unread. (Node sets `complete` only once such a request's end has been read.)
  if (req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined) return false;
  // A client that sent `Expect: 100-continue` and got a final answer instead may or may not send its body.
  if (req.headers.expect !== undefined) return true;
  const declared = Number(req.headers["content-length"] ?? NaN);
  return !(Number.isSafeInteger(declared) && declared <= DRAIN_BYTES_MAX);
}

/** Sends `body`, or the buffers of `body` in order as one body. */
function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: Buffer | readonly Buffer[], closing: boolean, extra?: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  let length = 0;
  if (Buffer.isBuffer(body)) length = body.length;
  else for (const piece of body) length += piece.length;
  // A flat [name, value, ...] list: Node writes it as it is, without walking an object's keys.
  const headers: string[] = ["content-type", type, "content-length", String(length)];
  if (extra !== undefined) for (const name of Object.keys(extra)) headers.push(name, extra[name]!);
  if (mustClose(req, closing)) headers.push("connection", "close");
  res.writeHead(status, headers);
  if (Buffer.isBuffer(body)) {
    res.end(body);
    return;
  }
  for (const piece of body) res.write(piece);
  res.end();
}

/** Replies that never change, packed once: sendReply finds them by identity. */
const PACKED = new Map<Record<string, unknown>, Buffer>();

/** Registers a reply that routes send often; returns it frozen, to be returned as it is. */
export function constantReply(reply: Record<string, unknown>): Record<string, unknown> {
  const frozen = Object.freeze(reply);
  PACKED.set(frozen, packEnvelope(frozen));
  return frozen;
}

/** `{}`, the answer of most writes. */
export const EMPTY = constantReply({});

/** Answers a route packed itself (a batch's), by the reply object that stands for them. */
const PACKED_BY_ROUTE = new WeakMap<Record<string, unknown>, readonly Buffer[]>();

/** A reply that is sent as these buffers, in order, as one body. */
export function prepackedReply(pieces: readonly Buffer[]): Record<string, unknown> {
  const reply = {};
  PACKED_BY_ROUTE.set(reply, pieces);
  return reply;
}

/** A route's reply as the bytes of a success body: one buffer, or buffers to send in order. */
export function packedReply(reply: Record<string, unknown>): Buffer | readonly Buffer[] {
  return PACKED.get(reply) ?? PACKED_BY_ROUTE.get(reply) ?? packEnvelope(reply);
}

export function sendReply(req: IncomingMessage, res: ServerResponse, reply: Record<string, unknown>, closing: boolean): void {
  send(req, res, 200, MSGPACK_TYPE, packedReply(reply), closing);
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, closing: boolean, extra?: Record<string, string>): void {
  send(req, res, status, JSON_TYPE, Buffer.from(JSON.stringify(body)), closing, extra);
}

export function sendText(req: IncomingMessage, res: ServerResponse, status: number, type: string, text: string, closing: boolean): void {
  send(req, res, status, type, Buffer.from(text), closing);
}

export function sendError(req: IncomingMessage, res: ServerResponse, error: ErrorReply, closing: boolean, extra?: Record<string, string>): void {
  sendJson(req, res, error.status, { code: error.code, message: error.message }, closing, extra);
}
