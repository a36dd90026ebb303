// The framed transport over TCP (docs/protocol.md, "The framed transport"; the format is
// proto/frames.ts), beside the HTTP edge and over the same dispatch core
// (server/dispatch.ts): the same routes, envelopes, bounds, errors and closing. One
// connection carries many calls at once, each under the call id its client gave it, and
// each answered as soon as it is done (a write: once its batch is durable), in whatever
// order they finish, so a waiting call never holds up the others. Answers that are ready
// together go out in one socket write.
//
// A connection starts with the client's hello (its token, checked as HTTP checks the
// bearer token, before anything else is read); any frame that breaks the framing is
// answered with a connection error and the connection closes. Errors of one call (a bad
// envelope, an unknown route, a body over its route's bound) are that call's answer only.
// A peer that does not read its answers stops having its calls read (UNSENT_BYTES_MAX,
// RUNNING_CALLS_MAX), so that it cannot make the server hold more than a bounded amount.

import { createServer, type Server as NetServer, type Socket } from "node:net";
import { ClosedError, InvalidError, LarderError, NotFoundError, RequestSizeError, UnavailableError } from "../proto/errors.ts";
import {
  FrameError,
  FrameReader,
  TurnWriter,
  WIRE_VERSION,
  answerHead,
  readFrameHead,
  readShortString,
  type FrameSink,
  type LargeFrameVerdict,
} from "../proto/frames.ts";
import { isMap, packEnvelope, unpackEnvelope } from "../proto/wire.ts";
import type { TokenCheck } from "./auth.ts";
import { decodeEnvelope } from "./decode.ts";
import { Dispatcher, ServedCall } from "./dispatch.ts";
import type { Envelope } from "./envelope.ts";
import { errorReply, packedReply } from "./reply.ts";
import { ROUTES_BY_PATH, type Reply, type Route } from "./routes.ts";

/** A connection that has not sent its hello within this long is closed. */
const HELLO_TIMEOUT_MS = 10_000;
/** At shutdown, as on HTTP: connections are kept until no frame came for this long (at most the linger). */
const SHUTDOWN_QUIET_MS = 30;
const SHUTDOWN_LINGER_MAX_MS = 200;
/** After the server ends a connection, a peer that does not close its side is cut off after this long. */
const END_GRACE_MS = 1_000;
/** The longest hello taken: a token is at most a few hundred bytes. */
const HELLO_BYTES_MAX = 4 * 1024;
/** Room for a call frame's head (array header, call id, path) beyond its envelope. */
const CALL_HEAD_BYTES_MAX = 300;
/** An answer's values over this size are written to the socket as they are, not copied into the frame. */
const UNCOPIED_VALUE_BYTES_MIN = 64 * 1024;
/**
 * Backpressure (docs/protocol.md, "Backpressure"): while a connection's answers not yet taken
 * by its peer's socket come to more than this, the server reads no more of its calls...
 */
export const UNSENT_BYTES_MAX = 8 * 1024 * 1024;
/**
 * ... nor while this many of its calls that answer at once are running (calls that may wait
 * do not count: a put that would wake them must still get through). So what a peer that
 * does not read can make the server hold is bounded: this many answers past the limit above.
 */
export const RUNNING_CALLS_MAX = 128;

export class WireEdge {
  readonly net: NetServer;
  private readonly connections = new Set<WireConnection>();
  /** When the last frame came in while closing (see closeConnections). */
  lastFrameAt = 0;
  private stopped: Promise<void> | undefined;
  /** The largest frame any route may send: its envelope bound plus the call's head. */
  readonly frameBytesMax: number;

  constructor(
    readonly core: Dispatcher,
    readonly tokenCheck: TokenCheck | undefined,
  ) {
    let bodyBytesMax = 0;
    for (const route of ROUTES_BY_PATH.values()) bodyBytesMax = Math.max(bodyBytesMax, this.bodyBytesMax(route));
    this.frameBytesMax = bodyBytesMax + CALL_HEAD_BYTES_MAX;
    this.net = createServer((socket) => {
      const connection = new WireConnection(this, socket);
      this.connections.add(connection);
      socket.once("close", () => this.connections.delete(connection));
    });
  }

  bodyBytesMax(route: Route): number {
    return Math.min(route.bodyBytesMax(this.core.engine.limits), this.core.options.requestBytesMax);
  }

  /** Stops accepting; every open connection is told to take no new calls (its client opens a new one, which is refused). */
  stopAccepting(): void {
    this.lastFrameAt = Date.now();
    this.stopped = new Promise<void>((resolve) => this.net.close(() => resolve()));
    for (const connection of this.connections) connection.goAway();
  }

  /** After the calls in flight are answered: waits for a quiet moment, then ends every connection. */
  async closeConnections(): Promise<void> {
    const lingerUntil = Date.now() + SHUTDOWN_LINGER_MAX_MS;
    while (this.connections.size > 0) {
      const now = Date.now();
      const quietFor = now - this.lastFrameAt;
      if (quietFor >= SHUTDOWN_QUIET_MS || now >= lingerUntil) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(SHUTDOWN_QUIET_MS - quietFor, lingerUntil - now)));
    }
    for (const connection of this.connections) connection.end();
    await this.stopped;
  }
}

/** Bytes that start an HTTP request: a client that dialled the framed port with HTTP gets an HTTP answer. */
const HTTP_REQUEST_START = /^[A-Z]{3,7} /;

class WireConnection implements FrameSink {
  private readonly reader: FrameReader;
  private hello = true;
  private closed = false;
  /** No new calls (the server is closing, or the connection is in error). */
  private draining = false;
  private helloTimer: NodeJS.Timeout | undefined;
  private readonly calls = new Map<number, WireCall>();
  /** Calls running that answer at once (see RUNNING_CALLS_MAX). */
  private running = 0;
  /** Frames read and not yet taken, in order, while backpressure holds; the socket is paused meanwhile. */
  private held: Buffer[] = [];
  private paused = false;
  /** Frames ready to write, sent together at the end of this turn of the event loop. */
  private readonly writer: TurnWriter;
  private readonly core: Dispatcher;

  constructor(
    private readonly edge: WireEdge,
    private readonly socket: Socket,
  ) {
    this.core = edge.core;
    this.reader = new FrameReader(this, HELLO_BYTES_MAX);
    this.writer = new TurnWriter(socket, () => !this.closed);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.data(chunk));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.gone());
    socket.on("end", () => socket.end());
    socket.on("drain", () => this.pump());
    this.helloTimer = setTimeout(() => this.fail(new InvalidError("no hello frame within 10 s")), HELLO_TIMEOUT_MS);
    this.helloTimer.unref();
  }

  private data(chunk: Buffer): void {
    if (this.core.isClosing) this.edge.lastFrameAt = Date.now();
    if (this.hello && HTTP_REQUEST_START.test(chunk.toString("latin1", 0, 8))) {
      const body = JSON.stringify({ code: "INVALID", message: "this port speaks Larder's framed transport (docs/protocol.md); HTTP is served on the server's HTTP port" });
      this.reader.stop();
      this.endWith(Buffer.from(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`));
      return;
    }
    this.reader.push(chunk);
  }

  frame(payload: Buffer): void {
    if (this.hello) {
      this.greet(payload);
      return;
    }
    if (this.held.length > 0 || this.backpressure()) {
      this.held.push(payload);
      if (!this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      return;
    }
    this.take(payload);
  }

  /** Whether the next call must wait: the peer has not taken enough of the answers, or enough calls run. */
  private backpressure(): boolean {
    return this.running >= RUNNING_CALLS_MAX || this.socket.writableLength + this.writer.queuedBytes > UNSENT_BYTES_MAX;
  }

  /** Takes the frames held while backpressure lasted, and reads the socket again once all are taken. */
  private pump(): void {
    while (this.held.length > 0 && !this.closed && !this.backpressure()) this.take(this.held.shift()!);
    if (this.paused && this.held.length === 0 && !this.closed) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** A call or cancel frame. */
  private take(payload: Buffer): void {
    let head;
    let path: string;
    let start: number;
    try {
      head = readFrameHead(payload);
      if (head.count === 2) throw new FrameError("a frame holds [callId, path, envelope] or [callId]");
      if (head.callId === 0) throw new FrameError("call id 0 is the connection's own");
      if (head.count === 1) {
        this.calls.get(head.callId)?.cancel();
        return;
      }
      if (this.calls.has(head.callId)) throw new FrameError(`call id ${head.callId} is already in flight on this connection`);
      ({ value: path, next: start } = readShortString(payload, head.next, "the path"));
    } catch (err) {
      this.fail(err);
      return;
    }
    const callId = head.callId;
    const route = this.admit(callId, path, payload.length - start);
    if (route === undefined) return;
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(payload.subarray(start), this.core.envelopeValuesMax);
    } catch (err) {
      this.answerError(callId, err);
      return;
    }
    const call = new WireCall(this.core, this, callId, route.spec.mayWait !== false && route.spec.mayWait(envelope));
    if (!call.mayWait) this.running++;
    this.calls.set(callId, call);
    this.core.begin(call);
    this.core.run(call, route, envelope).then(
      (reply) => this.finish(call, reply),
      (err: unknown) => this.finish(call, undefined, err),
    );
  }

  /** The checks before an envelope is decoded, as on HTTP: route, server closing, body bound. Undefined: answered already. */
  private admit(callId: number, path: string, bodyBytes: number): Route | undefined {
    const route = ROUTES_BY_PATH.get(path);
    let refused: LarderError | undefined;
    if (route === undefined) refused = new NotFoundError(`no route ${JSON.stringify(path)}; see docs/protocol.md`);
    else if (this.core.isClosing || this.draining) refused = new UnavailableError("the server is shutting down; nothing was done");
    else {
      const bytesMax = this.edge.bodyBytesMax(route);
      if (bodyBytes > bytesMax) refused = new RequestSizeError(`the request body is ${bodyBytes} bytes, over the limit of ${bytesMax} bytes for this route`);
    }
    if (refused === undefined) return route;
    this.answerError(callId, refused);
    return undefined;
  }

  largeFrame(length: number, head: Buffer): LargeFrameVerdict {
    if (this.hello) {
      this.fail(new InvalidError("the first frame must be a hello, a few bytes"));
      return "skip";
    }
    try {
      const frameHead = readFrameHead(head);
      if (frameHead.count !== 3 || frameHead.callId === 0) throw new FrameError("a large frame must be a call [callId, path, envelope]");
      const { value: path, next } = readShortString(head, frameHead.next, "the path");
      if (this.calls.has(frameHead.callId)) throw new FrameError(`call id ${frameHead.callId} is already in flight on this connection`);
      // Refused before its bytes are buffered, as HTTP refuses a Content-Length over the bound.
      return this.admit(frameHead.callId, path, length - next) === undefined ? "skip" : "read";
    } catch (err) {
      this.fail(err);
      return "skip";
    }
  }

  tooLarge(length: number): void {
    this.fail(
      this.hello
        ? new InvalidError("not a Larder framed connection: the first frame must be a hello (docs/protocol.md)")
        : new RequestSizeError(`a frame of ${length} bytes is over the largest any call may send (${this.edge.frameBytesMax})`),
    );
  }

  /** The hello: `{ larder: 1, token? }`; the token is checked before any call is read. */
  private greet(payload: Buffer): void {
    this.hello = false;
    clearTimeout(this.helloTimer);
    try {
      let hello: unknown;
      try {
        hello = unpackEnvelope(payload);
      } catch {
        throw new InvalidError("the first frame must be a hello, a MessagePack map (docs/protocol.md)");
      }
      if (!isMap(hello) || hello.larder !== WIRE_VERSION) throw new InvalidError(`the first frame must be a hello { larder: ${WIRE_VERSION} }`);
      const token = hello.token;
      if (token !== undefined && token !== null && typeof token !== "string") throw new InvalidError("the hello's token must be a string");
      this.edge.tokenCheck?.checkToken(token ?? undefined);
      if (this.core.isClosing) throw new UnavailableError("the server is shutting down");
    } catch (err) {
      this.fail(err);
      return;
    }
    this.reader.frameBytesMax = this.edge.frameBytesMax;
    // As the health route tells HTTP clients: a client caps its retries of a call with a request id by it.
    const engine = this.core.engine;
    const retention = engine.appliesRequestIds === true ? engine.requestIdRetentionMs : undefined;
    this.writer.write(connectionFrame(200, { larder: WIRE_VERSION, requestIdRetentionMs: retention }));
  }

  private finish(call: WireCall, reply: Reply | undefined, err?: unknown): void {
    this.calls.delete(call.callId);
    this.core.finished(call);
    if (reply !== undefined) this.answer(call.callId, reply);
    else this.answerError(call.callId, err);
    if (!call.mayWait) this.running--;
    if (this.held.length > 0) this.pump();
  }

  private answer(callId: number, reply: Reply): void {
    if (this.closed) return;
    const body = answerPieces(reply);
    if (Buffer.isBuffer(body)) {
      this.writer.write(answerHead(callId, 200, body.length), body);
      return;
    }
    let bytes = 0;
    for (const piece of body) bytes += piece.length;
    this.writer.write(answerHead(callId, 200, bytes), ...body);
  }

  private answerError(callId: number, err: unknown): void {
    if (this.closed) return;
    const { status, code, message } = errorReply(err, this.core.options.logError);
    const body = packEnvelope({ code, message });
    this.writer.write(answerHead(callId, status, body.length), body);
  }

  /** The server is closing: this connection takes no new calls; the client opens a new one for them. */
  goAway(): void {
    if (this.closed || this.hello) return;
    this.draining = true;
    this.writer.write(connectionFrame(503, { code: "UNAVAILABLE", message: "the server is shutting down; this connection takes no new calls" }));
  }

  /** A connection error: it is answered on call id 0, and the connection closes. */
  private fail(err: unknown): void {
    if (this.closed) return;
    this.reader.stop();
    clearTimeout(this.helloTimer);
    this.draining = true;
    const error = err instanceof FrameError ? new InvalidError(`malformed frame: ${err.message}`) : err;
    const { status, code, message } = errorReply(error, this.core.options.logError);
    this.writer.write(connectionFrame(status, { code, message }));
    this.end();
  }

  /** Ends the connection once what is queued is written; a peer that keeps its side open is cut off. */
  end(): void {
    if (this.closed) return;
    this.writer.flush();
    this.endWith(undefined);
  }

  private endWith(last: Buffer | undefined): void {
    if (last === undefined) this.socket.end();
    else this.socket.end(last);
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  /** The connection closed: the waits of its calls end; answers to its other calls have nowhere to go. */
  private gone(): void {
    this.closed = true;
    this.held = [];
    this.reader.stop();
    clearTimeout(this.helloTimer);
    for (const call of this.calls.values()) call.connectionGone();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** A frame on call id 0: the hello's answer, a go-away, or a connection error. */
function connectionFrame(status: number, body: Record<string, unknown>): Buffer {
  const packed = packEnvelope(body);
  return Buffer.concat([answerHead(0, status, packed.length), packed]);
}

/**
 * A success body as pieces to write. A value read from the store (`dict/get`, `dict/pop`)
 * over UNCOPIED_VALUE_BYTES_MIN is handed to the socket as it came from LevelDB, after a
 * few header bytes, instead of being copied into a packed answer.
 */
function answerPieces(reply: Reply): Buffer | readonly Buffer[] {
  const value = reply.value;
  if (value instanceof Uint8Array && value.length >= UNCOPIED_VALUE_BYTES_MIN && Object.keys(reply).length === 1) {
    const head = packEnvelope({ value: new Uint8Array(0) });
    // `{ value: bin8 "" }` ends in c4 00: rewrite the bin header for the real length.
    const header = Buffer.allocUnsafe(head.length - 2 + 5);
    head.copy(header, 0, 0, head.length - 2);
    header[head.length - 2] = 0xc6;
    header.writeUInt32BE(value.length, head.length - 1);
    return [header, Buffer.from(value.buffer, value.byteOffset, value.length)];
  }
  return packedReply(reply);
}

/** One call on a connection: the route's view of it (server/dispatch.ts). */
class WireCall extends ServedCall {
  private cancelled = false;
  private onGone: (() => void) | undefined;

  constructor(
    core: Dispatcher,
    private readonly connection: WireConnection,
    readonly callId: number,
    /** A call that may wait (a long-poll, a put into a full partition): it does not count as running. */
    readonly mayWait: boolean,
  ) {
    super(core);
  }

  protected watchGone(gone: () => void): void {
    if (this.connection.isClosed) gone();
    else if (this.cancelled) this.controller!.abort(cancelledByClient());
    else this.onGone = gone;
  }

  connectionGone(): void {
    this.onGone?.();
  }

  /** The client's cancel frame: as `waits/cancel` for a wait id, a wait not served yet ends at once. */
  cancel(): void {
    if (this.controller !== undefined) this.controller.abort(cancelledByClient());
    else this.cancelled = true;
  }
}

function cancelledByClient(): ClosedError {
  return new ClosedError("the wait was cancelled by its client");
}
