// The undici handler of one request: it collects the answer, rebuilds the server's error
// bodies into the error classes the embedded store throws, and ties the caller's abort
// signal to the request (a wait with an id is cancelled at the server instead of by
// dropping its connection).

import type { RouteName } from "../proto/calls.ts";
import { unpackBatchReplyChunks } from "../proto/chunked.ts";
import { InternalError, errorFromCode, type LarderError } from "../proto/errors.ts";
import { BATCH_REPLY_WHOLE_BYTES_MAX, isMap, unpackEnvelope } from "../proto/wire.ts";
import { ConnectionFailure, ServerUnavailable, abortReason } from "./failures.ts";

export type Reply = Readonly<Record<string, unknown>>;

/**
 * Collects one answer for `attempt`. undici's classic handler protocol: onConnect gives the
 * abort function, onHeaders the status, onData the body in chunks, then onComplete or
 * onError (exactly one of them).
 */
export class ReplyHandler {
  private status = 0;
  private answered = false;
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private onAbort: (() => void) | undefined;

  constructor(
    private readonly route: RouteName,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (reply: Reply) => void,
    /** The server's own answer was an error (or not readable). */
    private readonly reject: (err: unknown) => void,
    /** The connection failed; `answered` once the status line had arrived. */
    private readonly fail: (err: unknown, answered: boolean) => void,
    /** For a wait with an id: on abort, cancel it at the server; `drop` aborts the request. */
    private readonly cancel?: (drop: () => void) => void,
  ) {}

  onConnect(abort: (reason?: Error) => void): void {
    const signal = this.signal;
    if (signal === undefined) return;
    const drop = (): void => abort(abortReason(signal));
    if (signal.aborted) {
      // Not sent yet: nothing can have been handed to it.
      drop();
      return;
    }
    const cancel = this.cancel;
    this.onAbort = cancel === undefined ? drop : () => cancel(drop);
    signal.addEventListener("abort", this.onAbort, { once: true });
  }

  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    this.answered = true;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.received += chunk.length;
    return true;
  }

  onComplete(): void {
    this.release();
    const chunks = this.chunks;
    let reply: Reply;
    try {
      if (this.status === 200 && this.route === "batch" && this.received > BATCH_REPLY_WHOLE_BYTES_MAX) {
        // Possibly more than one Buffer can hold: read it one reply at a time (proto/chunked.ts).
        reply = decodeBatchReplyChunks(chunks);
      } else {
        const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.received);
        if (this.status !== 200) {
          this.reject(errorFromReply(this.status, bytes));
          return;
        }
        reply = decodeReply(this.route, bytes);
      }
    } catch (err) {
      this.reject(err);
      return;
    }
    this.resolve(reply);
  }

  onError(err: Error): void {
    this.release();
    this.fail(err, this.answered);
  }

  private release(): void {
    if (this.onAbort !== undefined) this.signal!.removeEventListener("abort", this.onAbort);
    this.onAbort = undefined;
  }
}

function decodeBatchReplyChunks(chunks: readonly Buffer[]): Reply {
  try {
    return unpackBatchReplyChunks(chunks);
  } catch (err) {
    throw new InternalError(`the server's answer to batch is not a well-formed batch answer: ${(err as Error).message}`);
  }
}

function decodeReply(route: RouteName, bytes: Buffer): Reply {
  let decoded: unknown;
  try {
    decoded = unpackEnvelope(bytes);
  } catch (err) {
    throw new InternalError(`the server's answer to ${route} is not MessagePack: ${(err as Error).message}`);
  }
  if (!isMap(decoded)) {
    throw new InternalError(`the server's answer to ${route} is not a MessagePack map`);
  }
  return decoded as Reply;
}

/** Rebuilds the error the server sent as `{ code, message }`; anything else is INTERNAL (or a broken connection for 502/504). */
function errorFromReply(status: number, bytes: Buffer): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const answer = errorFromAnswer((parsed ?? {}) as Reply);
  if (answer !== undefined) return answer;
  // Not a Larder answer: something in between (a proxy) failed; treat it like a broken connection.
  if (status === 502 || status === 503 || status === 504) return new ConnectionFailure(true, new Error(`HTTP ${status} from a proxy`));
  return new InternalError(`unexpected HTTP ${status} answer from the server`);
}

/** The error a Larder error body `{ code, message }` stands for (a batched call's too); undefined if it is not one. */
export function errorFromAnswer(answer: Reply): LarderError | undefined {
  const { code, message } = answer as { code?: unknown; message?: unknown };
  if (typeof code !== "string" || typeof message !== "string") return undefined;
  return code === "UNAVAILABLE" ? new ServerUnavailable(message) : errorFromCode(code, message);
}
