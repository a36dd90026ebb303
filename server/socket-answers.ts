// Answers the HTTP edge writes straight onto a socket, below Node's HTTP server: to bytes
// that are not HTTP/1.1 (Node's clientError) and to CONNECT. Node would answer those with
// a bare status and close; here each answer has a `{ code, message }` body like every other.

import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { JSON_TYPE } from "../proto/wire.ts";

/** The answer Node is writing on a connection, if any (its own field: Node has no public accessor). */
function responseOn(socket: Duplex): ServerResponse | null | undefined {
  return (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
}

/** Sockets already answered after a framing error: the parser may report the same error again. */
const answeredSockets = new WeakSet<Duplex>();

/**
 * Bytes that are not HTTP/1.1 (a bad request line, conflicting lengths, a bad chunk, headers
 * past Node's bound, a request that took too long to arrive). An answer already under way on
 * this connection (the bad bytes came after a good request) is finished first, so its
 * client learns what became of that request.
 */
export function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (answeredSockets.has(socket)) return;
  answeredSockets.add(socket);
  if (err.code === "ECONNRESET" || err.code === "EPIPE" || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.pause();
  const [status, code, message] =
    err.code === "HPE_HEADER_OVERFLOW" ? [431, "TOO_LARGE", "the request's headers are too large"]
    : err.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? [413, "TOO_LARGE", "the request's chunk extensions are too large"]
    : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, "INVALID", "the request did not arrive in time"]
    : [400, "INVALID", `malformed HTTP/1.1 request${err.code === undefined ? "" : ` (${err.code})`}`];
  const answerWhenIdle = (): void => {
    const current = responseOn(socket);
    // A request whose own bytes broke (a cut-off body) gets the error; one read whole before them, its answer first.
    if (current && current.req.complete && !current.writableFinished && !current.destroyed) {
      const next = (): void => {
        current.off("finish", next);
        current.off("close", next);
        setImmediate(answerWhenIdle);
      };
      current.on("finish", next);
      current.on("close", next);
      return;
    }
    answerOnSocket(socket, status, code, message);
  };
  answerWhenIdle();
}

/** Writes a whole `{ code, message }` answer straight to a socket and closes it. */
export function answerOnSocket(socket: Duplex, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
  const current = responseOn(socket);
  // Closing already (the answer before said `connection: close`), or an answer half written: nothing more can be said.
  if (!socket.writable || socket.writableEnded || (current && current.headersSent && !current.writableFinished)) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ code, message });
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of Object.entries(extra)) head += `${name}: ${value}\r\n`;
  socket.end(`${head}connection: close\r\n\r\n${body}`);
  // A peer that never closes its side does not keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}
