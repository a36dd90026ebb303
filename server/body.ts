// Reading a request body with a bound: a declared Content-Length over the bound is refused
// before a byte is read, and a chunked body is counted as it streams and refused as soon as
// it passes the bound, so an oversize request never occupies more than `bytesMax` of memory.

import type { IncomingMessage } from "node:http";
import { InvalidError, RequestSizeError } from "../proto/errors.ts";
import { MSGPACK_TYPE_ALIASES } from "../proto/wire.ts";

/** Refuses a body whose content type is not MessagePack (answered 415 with code INVALID). */
export class UnsupportedMediaTypeError extends InvalidError {}

export function checkContentType(req: IncomingMessage): void {
  const header = req.headers["content-type"];
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
export function checkDeclaredLength(req: IncomingMessage, bytesMax: number): number | undefined {
  const header = req.headers["content-length"];
  if (header === undefined) return undefined;
  const length = Number(header);
  if (!Number.isSafeInteger(length) || length < 0) throw new InvalidError(`invalid content-length ${JSON.stringify(header)}`);
  if (length > bytesMax) throw tooLarge(length, bytesMax);
  return length;
}

/** Reads the whole body, at most `bytesMax` bytes; rejects as soon as it passes the bound. */
export function readBody(req: IncomingMessage, bytesMax: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > bytesMax) {
        cleanup();
        req.pause();
        reject(tooLarge(`more than ${bytesMax}`, bytesMax));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onError = (err: Error): void => {
      // The client reset the connection mid-body; nobody is left to read the answer.
      cleanup();
      reject(new InvalidError(`the request body ended early: ${err.message}`));
    };
    const onClose = (): void => {
      // "close" before "end": the client went away mid-body (a truncated request).
      cleanup();
      reject(new InvalidError("the request body ended early"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}
