// The request head and body. The few headers the server reads are found in one pass over
// the raw header list (`req.headers` would build an object of every header and lowercase
// each name, a visible share of a small request's cost). A declared Content-Length over
// the route's bound is refused before a byte is read, and a chunked body is counted as it
// streams and refused as soon as it passes the bound, so an oversize request never
// occupies more than `bytesMax` of memory.

import type { IncomingMessage } from "node:http";
import { InvalidError, RequestSizeError } from "../proto/errors.ts";
import { MSGPACK_TYPE, MSGPACK_TYPE_ALIASES } from "../proto/wire.ts";

/** The request headers the server acts on; the first of repeated headers counts, as in Node. */
export interface RequestHead {
  contentType: string | undefined;
  contentLength: string | undefined;
  expect: string | undefined;
  authorization: string | undefined;
}

export function readHead(req: IncomingMessage): RequestHead {
  const head: RequestHead = { contentType: undefined, contentLength: undefined, expect: undefined, authorization: undefined };
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    // Only names of the lengths wanted are lowercased and compared.
    switch (name.length) {
      case 12:
        if (head.contentType === undefined && name.toLowerCase() === "content-type") head.contentType = raw[i + 1];
        break;
      case 14:
        if (head.contentLength === undefined && name.toLowerCase() === "content-length") head.contentLength = raw[i + 1];
        break;
      case 6:
        if (head.expect === undefined && name.toLowerCase() === "expect") head.expect = raw[i + 1];
        break;
      case 13:
        if (head.authorization === undefined && name.toLowerCase() === "authorization") head.authorization = raw[i + 1];
        break;
    }
  }
  return head;
}

/** Refuses a body whose content type is not MessagePack (answered 415 with code INVALID). */
export class UnsupportedMediaTypeError extends InvalidError {}

export function checkContentType(head: RequestHead): void {
  const header = head.contentType;
  if (header === MSGPACK_TYPE) return;
  const type = header?.split(";", 1)[0]!.trim().toLowerCase();
  if (type === undefined || !MSGPACK_TYPE_ALIASES.includes(type)) {
    throw new UnsupportedMediaTypeError(
      `the request body must be MessagePack (content-type ${MSGPACK_TYPE_ALIASES[0]}), got ${header === undefined ? "none" : JSON.stringify(header)}`,
    );
  }
}

function tooLarge(length: number | string, bytesMax: number): RequestSizeError {
  return new RequestSizeError(`the request body is ${length} bytes, over the limit of ${bytesMax} bytes for this route`);
}

/** The declared length, checked against the bound; undefined for a chunked body. */
export function checkDeclaredLength(head: RequestHead, bytesMax: number): number | undefined {
  const header = head.contentLength;
  if (header === undefined) return undefined;
  const length = Number(header);
  if (!Number.isSafeInteger(length) || length < 0) throw new InvalidError(`invalid content-length ${JSON.stringify(header)}`);
  if (length > bytesMax) throw tooLarge(length, bytesMax);
  return length;
}

/** Where a BodyReader delivers the whole body, or the reason there is none. */
export interface BodySink {
  bodyRead(body: Buffer): void;
  bodyFailed(err: Error): void;
}

const kReader = Symbol("larder.bodyReader");
type Reading = IncomingMessage & { [kReader]?: BodyReader };

// One set of listener functions for every request: each finds its reader on the request
// (`this` is the emitter), so reading a body allocates no closures.
function onData(this: Reading, chunk: Buffer): void {
  this[kReader]!.data(chunk);
}
function onEnd(this: Reading): void {
  this[kReader]!.end();
}
function onClose(this: Reading): void {
  // "close" before "end": the client went away mid-body (a truncated request). Node emits
  // "error" on a request only when it has listeners, so "close" is the one to watch.
  this[kReader]!.closed();
}

/** Reads a whole body, at most `bytesMax` bytes, and hands it to the sink once; fails as soon as it passes the bound. */
export class BodyReader {
  private first: Buffer | undefined;
  private rest: Buffer[] | undefined;
  private received = 0;
  private settled = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly bytesMax: number,
    private readonly sink: BodySink,
  ) {}

  start(): void {
    const req = this.req as Reading;
    req[kReader] = this;
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("close", onClose);
  }

  data(chunk: Buffer): void {
    if (this.settled) return;
    this.received += chunk.length;
    if (this.received > this.bytesMax) {
      this.req.pause();
      this.fail(tooLarge(`more than ${this.bytesMax}`, this.bytesMax));
      return;
    }
    if (this.first === undefined) this.first = chunk;
    else (this.rest ??= [this.first]).push(chunk);
  }

  end(): void {
    if (this.settled) return;
    this.settled = true;
    const body = this.rest !== undefined ? Buffer.concat(this.rest, this.received) : (this.first ?? Buffer.alloc(0));
    this.sink.bodyRead(body);
  }

  closed(): void {
    if (!this.settled) this.fail(new InvalidError("the request body ended early"));
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.sink.bodyFailed(err);
  }
}
