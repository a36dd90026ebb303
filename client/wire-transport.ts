// The framed transport of the Node.js client (docs/protocol.md, "The framed transport";
// the format is proto/frames.ts), selected by `connect("larder://host:port")`. One TCP
// connection carries every call at once, each under its own call id, and answers come back
// in the order calls finish, so a waiting call holds up nothing. Calls made in one turn of
// the event loop go out in one socket write. A call whose frame is over 64 KiB goes on a
// second connection, so that small calls never queue behind a big upload.
//
// Retries, request ids and wait ids are the HTTP client's (client/retries.ts): a call whose
// frame was never written (no connection, or written after the connection broke) "never
// left"; one written before the connection broke "may have been run"; an answer
// UNAVAILABLE (the server closing, or reopening its store) did nothing.

import { Socket, connect as netConnect } from "node:net";
import { ClosedError, InternalError, InvalidError } from "../proto/errors.ts";
import { ROUTES, type RouteName } from "../proto/calls.ts";
import {
  FrameError,
  FrameReader,
  LARGE_FRAME_BYTES,
  TurnWriter,
  WIRE_SCHEME,
  WIRE_VERSION,
  callHead,
  cancelFrame,
  readFrameHead,
  readUint,
  wholeFrame,
  type FrameSink,
} from "../proto/frames.ts";
import { isMap, packEnvelope, unpackEnvelope } from "../proto/wire.ts";
import { ConnectionFailure, NOT_SENT_CODES, ServerUnavailable, abortReason } from "./failures.ts";
import { errorFromAnswer, type Reply } from "./reply-handler.ts";
import { callWithRetries, type Attempts, type RetryOptions } from "./retries.ts";

export interface WireTransportOptions extends RetryOptions {
  readonly token: string | undefined;
}

/** How long to wait for a waiting call's answer: the server answers each within its longPollMaxMs (at most 240 s). */
const WAIT_ANSWER_TIMEOUT_MS = 300_000;
/** A connection with no call in flight for this long is closed (the HTTP client keeps idle sockets as long). */
const IDLE_MS = 10_000;
/** How often answer timeouts and idleness are checked. */
const SWEEP_MS = 1_000;
/** Bytes of an unfinished frame that count as progress toward an answer (see sweep()). */
const PROGRESS_BYTES_MIN = 16 * 1024;
/** After a cancel frame, how long a wait's own answer is waited for before the call is given up. */
const WAIT_CANCEL_GRACE_MS = 2_000;
/** How long close() waits for the answers to calls in flight. */
const IN_FLIGHT_GRACE_MS = 2_000;

/** `larder://host:port` to where to connect. */
export function parseWireUrl(url: string): { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidError(`not a URL: ${JSON.stringify(url)}; expected larder://HOST:PORT`);
  }
  if (parsed.protocol !== WIRE_SCHEME) throw new InvalidError(`the framed transport's URL must start with larder://, got ${JSON.stringify(url)}`);
  const port = Number(parsed.port);
  if (parsed.port === "" || !Number.isInteger(port)) throw new InvalidError(`larder:// URLs need a port: ${JSON.stringify(url)}`);
  if (parsed.pathname !== "" && parsed.pathname !== "/") throw new InvalidError(`larder:// URLs take no path: ${JSON.stringify(url)}`);
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), port };
}

export class WireTransport implements Attempts {
  private readonly host: string;
  private readonly port: number;
  private readonly hello: Buffer;
  private small: WireConnection | undefined;
  private large: WireConnection | undefined;
  private closed = false;
  /** The server's requestIdRetentionMs, from a hello's answer (Infinity: it keeps no records). */
  private retentionMs: number | undefined;

  constructor(url: string, readonly options: WireTransportOptions) {
    ({ host: this.host, port: this.port } = parseWireUrl(url));
    this.hello = wholeFrame(packEnvelope({ larder: WIRE_VERSION, token: options.token }));
  }

  call(route: RouteName, envelope: Record<string, unknown>, signal?: AbortSignal, retryUntil = Infinity): Promise<Reply> {
    return callWithRetries(this, this.options, route, envelope, signal, retryUntil);
  }

  attemptCall(route: RouteName, body: Buffer, waits: boolean, signal: AbortSignal | undefined): Promise<Reply> {
    return this.connectionFor(body.length).send(route, body, waits, signal);
  }

  /** The open connection for a frame of this size, or a new one. */
  private connectionFor(bodyBytes: number): WireConnection {
    if (bodyBytes > LARGE_FRAME_BYTES) {
      if (this.large === undefined || !this.large.usable) this.large = this.open();
      return this.large;
    }
    if (this.small === undefined || !this.small.usable) this.small = this.open();
    return this.small;
  }

  private open(): WireConnection {
    const socket = netConnect({ host: this.host, port: this.port, noDelay: true });
    return new WireConnection(socket, this.hello, this.options.answerTimeoutMs, (ms) => (this.retentionMs = ms));
  }

  /** The server's requestIdRetentionMs, as its hello's answer gave it; before a retry without one, a connection's hello is waited for. */
  async requestIdRetentionMs(): Promise<number> {
    if (this.retentionMs !== undefined) return this.retentionMs;
    await this.connectionFor(0).greeting;
    if (this.retentionMs === undefined) throw new ServerUnavailable("the Larder server's hello did not say its requestIdRetentionMs");
    return this.retentionMs;
  }

  ensureOpen(): void {
    if (this.closed) throw new ClosedError("the remote store is closed");
  }

  /**
   * Closes the connections. A call in flight may have taken effect at the server already (a
   * get handed items, a put written): its answer is waited for, up to IN_FLIGHT_GRACE_MS;
   * calls still unanswered then fail with ClosedError.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    // Waits being cancelled and calls in flight answer first.
    const answered = Promise.all([this.small?.answered(), this.large?.answered()]);
    await Promise.race([answered, new Promise<void>((resolve) => (timer = setTimeout(resolve, IN_FLIGHT_GRACE_MS)))]);
    clearTimeout(timer);
    await Promise.all([this.small?.close(), this.large?.close()]);
  }
}

const noop = (): void => {};

/** A call sent on a connection, until its answer. */
interface PendingCall {
  readonly id: number;
  readonly route: RouteName;
  readonly waits: boolean;
  resolve(reply: Reply): void;
  reject(err: unknown): void;
  /** Its frame was handed to the socket: the server may run it. */
  sent: boolean;
  /** When it was sent (ms since the epoch). */
  sentAt: number;
  /** How long it may go without a byte from the server once sent: answerTimeoutMs, or the long-poll bound for a wait. */
  timeoutMs: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

class WireConnection implements FrameSink {
  private readonly reader: FrameReader;
  private readonly calls = new Map<number, PendingCall>();
  /** Who waits for every call in flight to settle (close()). */
  private readonly onAnswered: Array<() => void> = [];
  private nextId = 1;
  /** The TCP connection is up (before that, a failure means nothing was sent). */
  private connected = false;
  /** The server took the hello. */
  private greeted = false;
  /** No new calls: the server said so (going away), or the connection failed or closed. */
  private draining = false;
  private closed = false;
  /** The server's reason when it closed the connection on us. */
  private failure: Error | undefined;
  private readonly writer: TurnWriter;
  /** Calls whose frames wait in the writer. */
  private outCalls: PendingCall[] = [];
  private lastActive = Date.now();
  /** Chunks received so far, and when the sweep last saw that count move (for closing an idle connection). */
  private chunks = 0;
  private chunksSeen = 0;
  private heardAt = 0;
  /**
   * Bytes received that belong to a frame not yet complete (an answer still streaming in),
   * and when the sweep last saw at least PROGRESS_BYTES_MIN more of them: the moment the
   * connection last made progress toward an answer. Complete answers of other calls are no
   * sign that a call's own answer is coming, and a peer trickling a few bytes holds nothing.
   */
  private streamed = 0;
  private streamedSeen = 0;
  private progressAt = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** Settles with the hello's answer: resolves when taken, rejects (ServerUnavailable) when refused or broken. */
  readonly greeting: Promise<void>;
  private greeted_: { resolve(): void; reject(err: unknown): void } | undefined;

  constructor(
    private readonly socket: Socket,
    hello: Buffer,
    private readonly answerTimeoutMs: number,
    private readonly onRetention: (ms: number) => void,
  ) {
    this.greeting = new Promise<void>((resolve, reject) => (this.greeted_ = { resolve, reject }));
    this.greeting.catch(noop);
    this.reader = new FrameReader(this, 0xffff_ffff);
    this.writer = new TurnWriter(socket, () => !this.closed, this.written);
    socket.on("connect", () => (this.connected = true));
    socket.on("data", (chunk: Buffer) => {
      this.chunks++;
      const mid = this.reader.midFrame;
      this.reader.push(chunk);
      if (mid || this.reader.midFrame) this.streamed += chunk.length;
    });
    socket.on("error", (err) => this.broken(err));
    socket.on("close", () => this.broken(new Error("the connection closed")));
    socket.on("end", () => socket.end());
    // Calls may follow the hello at once: the server reads none of them unless it takes the hello.
    socket.write(hello);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  get usable(): boolean {
    return !this.draining && !this.closed;
  }

  send(route: RouteName, body: Buffer, waits: boolean, signal: AbortSignal | undefined): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const id = this.nextId;
      this.nextId = id === 0xffff_ffff ? 1 : id + 1;
      const call: PendingCall = { id, route, waits, resolve, reject, sent: false, sentAt: 0, timeoutMs: Infinity, signal, onAbort: undefined };
      if (signal !== undefined) {
        if (signal.aborted) {
          reject(abortReason(signal));
          return;
        }
        call.onAbort = () => this.cancel(call);
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
      this.calls.set(id, call);
      this.writer.write(callHead(id, ROUTES[route], body.length), body);
      this.outCalls.push(call);
    });
  }

  /**
   * The caller stopped waiting (its handle or store closed). As over HTTP, the wait is not
   * simply dropped: the server may already have handed it items. The cancel frame ends it
   * at the server, and its own answer settles the call (with its items if it was served);
   * without an answer within WAIT_CANCEL_GRACE_MS the call is given up.
   */
  private cancel(call: PendingCall): void {
    if (!this.calls.has(call.id)) return;
    if (!call.sent || this.closed) {
      this.settle(call, undefined, abortReason(call.signal!));
      return;
    }
    this.writer.write(cancelFrame(call.id));
    const timer = setTimeout(() => {
      if (this.calls.get(call.id) === call) this.settle(call, undefined, abortReason(call.signal!));
    }, WAIT_CANCEL_GRACE_MS);
    timer.unref();
  }

  /** After each write: the calls whose frames went out are sent, their answer timeouts counted from now. */
  private readonly written = (): void => {
    const calls = this.outCalls;
    this.outCalls = [];
    const now = Date.now();
    this.lastActive = now;
    for (const call of calls) {
      call.sent = true;
      call.sentAt = now;
      call.timeoutMs = call.waits ? WAIT_ANSWER_TIMEOUT_MS : this.answerTimeoutMs;
    }
  };

  frame(payload: Buffer): void {
    let callId: number;
    let status: number;
    let body: Reply;
    try {
      const head = readFrameHead(payload);
      if (head.count !== 3) throw new FrameError("an answer frame holds [callId, status, body]");
      const read = readUint(payload, head.next, "the status");
      callId = head.callId;
      status = read.value;
      const decoded = unpackEnvelope(payload.subarray(read.next));
      if (!isMap(decoded)) throw new FrameError("an answer's body must be a map");
      body = decoded;
    } catch (err) {
      this.fail(new InternalError(`malformed frame from the server: ${(err as Error).message}`));
      return;
    }
    if (callId === 0) {
      this.connectionAnswer(status, body);
      return;
    }
    const call = this.calls.get(callId);
    if (call === undefined) return; // given up on (a cancelled wait past its grace, a timeout)
    if (status === 200) this.settle(call, body);
    else this.settle(call, undefined, errorFromAnswer(body) ?? new InternalError(`malformed error answer (status ${status}) from the server`));
  }

  /** A frame on call id 0: the hello's answer, a go-away (503), or the reason the server is closing the connection. */
  private connectionAnswer(status: number, body: Reply): void {
    if (status === 200) {
      this.greeted = true;
      const ms = body.requestIdRetentionMs;
      this.onRetention(typeof ms === "number" && ms > 0 ? ms : Infinity);
      this.greeted_?.resolve();
      return;
    }
    const err = errorFromAnswer(body) ?? new InternalError(`malformed connection answer (status ${status}) from the server`);
    this.draining = true;
    if (!this.greeted) {
      this.greeted_?.reject(err);
      // The hello was refused (a wrong token, a server shutting down): the server ran none
      // of the calls sent behind it, and each fails with the hello's error (UNAVAILABLE is
      // retried, UNAUTHENTICATED is final).
      for (const call of [...this.calls.values()]) this.settle(call, undefined, err);
      return;
    }
    // Going away: the calls in flight are still answered; new ones go on a new connection.
    // Anything else: the server closes the connection after this frame.
    if (status !== 503) this.failure = err;
  }

  tooLarge(): void {
    this.fail(new InternalError("malformed frame from the server: a length past 4 GiB"));
  }

  largeFrame(): "read" {
    return "read";
  }

  /** Resolves once no call is in flight on this connection (each answered, failed or given up). */
  answered(): Promise<void> {
    if (this.calls.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.onAnswered.push(resolve));
  }

  private settle(call: PendingCall, reply: Reply | undefined, err?: unknown): void {
    this.calls.delete(call.id);
    if (this.calls.size === 0 && this.onAnswered.length > 0) for (const resolve of this.onAnswered.splice(0)) resolve();
    if (call.onAbort !== undefined) call.signal!.removeEventListener("abort", call.onAbort);
    if (reply !== undefined) call.resolve(reply);
    else call.reject(err);
  }

  /**
   * Answer timeouts, and closing an idle connection. A call times out when its timeout has
   * passed since it was sent and since the connection last made progress on an unfinished
   * frame: while a big answer streams in (a 100 MiB pop over a slow link), it and the calls
   * answered behind it wait; answers of other calls do not keep a call whose answer is lost
   * waiting, and neither does a trickle of less than PROGRESS_BYTES_MIN per timeout.
   */
  private sweep(): void {
    const now = Date.now();
    if (this.chunks !== this.chunksSeen) {
      this.chunksSeen = this.chunks;
      this.heardAt = now;
    }
    if (this.streamed - this.streamedSeen >= PROGRESS_BYTES_MIN) {
      this.streamedSeen = this.streamed;
      this.progressAt = now;
    }
    for (const call of this.calls.values()) {
      if (call.sent && now - Math.max(call.sentAt, this.progressAt) >= call.timeoutMs) {
        this.settle(call, undefined, new ConnectionFailure(true, new Error("no answer within the answer timeout"), true));
      }
    }
    if (this.calls.size === 0 && now - Math.max(this.lastActive, this.heardAt) >= IDLE_MS) {
      this.draining = true;
      void this.close();
    }
  }

  /** The connection is unusable: its calls fail, as sent or not. */
  private fail(err: Error): void {
    this.failure ??= err;
    this.socket.destroy();
    this.broken(err);
  }

  private broken(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    clearInterval(this.sweeper);
    this.reader.stop();
    const cause = this.failure ?? err;
    this.greeted_?.reject(new ServerUnavailable(`the connection to the Larder server failed: ${cause.message}`, { cause }));
    const code = (err as NodeJS.ErrnoException).code;
    // Before the connection was up nothing was sent; a frame not yet written was not sent either.
    const neverConnected = !this.connected || (code !== undefined && NOT_SENT_CODES.has(code) && !this.greeted);
    for (const call of [...this.calls.values()]) this.settle(call, undefined, new ConnectionFailure(call.sent && !neverConnected, cause));
  }

  /** Ends the connection: calls still in flight fail with ClosedError. */
  async close(): Promise<void> {
    this.draining = true;
    for (const call of [...this.calls.values()]) this.settle(call, undefined, new ClosedError("the remote store is closed"));
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1_000).unref();
    });
  }
}
