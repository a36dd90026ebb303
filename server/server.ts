// The HTTP/1.1 edge over the engine. Each request is checked in this order, each step
// before any work is done: health route, auth, route, method, server closing, content
// type, declared length, streamed length, MessagePack decoding, envelope types; then the
// route makes its one engine call. docs/protocol.md describes the result for clients.
//
// Closing (close(), SIGINT/SIGTERM in `larder serve`): stop accepting; answer requests that
// arrive on open connections with 503 UNAVAILABLE; release long-polls (they answer as if
// nothing arrived); let other in-flight requests finish (at most closeGraceMs); stop the
// reaper; close the engine.

import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { Server as NetServer, type AddressInfo } from "node:net";
import { openEngine, waitTicket, type Engine } from "../engine/index.ts";
import { RecoveringEngine } from "./recovering.ts";
import { setLongTimeout, type LongTimer } from "../proto/timer.ts";
import { ClosedError, InvalidError, LockedError, NotFoundError, RequestSizeError, UnavailableError } from "../proto/errors.ts";
import { HEALTH_PATH, JSON_TYPE, unpackEnvelope } from "../proto/wire.ts";
import { PACKAGE_VERSION } from "../proto/version.ts";
import { TokenCheck } from "./auth.ts";
import { BodyReader, checkContentType, checkDeclaredLength, readHead, type BodySink } from "./body.ts";
import { asEnvelope, type Envelope } from "./envelope.ts";
import { Leases } from "./leases.ts";
import { ConsoleFiles } from "./console.ts";
import { QueueCounters } from "./counters.ts";
import { engineOptions, resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from "./options.ts";
import { errorReply, sendError, sendJson, sendReply } from "./reply.ts";
import { ROUTES_BY_PATH, envelopeValuesMax, type Reply, type Route, type RouteContext } from "./routes.ts";
import { TooManyValues, endOfValue, stringsAreUtf8 } from "../proto/chunked.ts";
import { WaitRegistry, checkWaitId } from "./waits.ts";

export interface LarderServer {
  /** `http://HOST:PORT` with the port actually bound; loopback when bound to every interface. */
  readonly url: string;
  /** Graceful: stops accepting, answers in-flight requests, releases long-polls, closes the engine. */
  close(): Promise<void>;
  /** `await using server = await startServer(...)`: close() at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * At shutdown, open connections are kept after the in-flight requests are answered until
 * no request has come for SHUTDOWN_QUIET_MS (at most SHUTDOWN_LINGER_MAX_MS): a client
 * sending on one meanwhile gets 503 UNAVAILABLE (retried by every client), not a reset.
 */
const SHUTDOWN_QUIET_MS = 30;
const SHUTDOWN_LINGER_MAX_MS = 200;

/** Server keep-alive outlasts the client's (10 s), so a client never reuses a socket the server is closing. */
const KEEP_ALIVE_MS = 65_000;

class HttpEdge {
  private closing = false;
  private closed: Promise<void> | undefined;
  private readonly inFlight = new Set<InFlight>();
  /** When the last request came in while closing (see shutdown). */
  private lastRequestAt = 0;
  private drained: (() => void) | undefined;
  private readonly tokenCheck: TokenCheck | undefined;
  /** Waits in progress by the id their client gave them, for POST /v1/waits/cancel. */
  readonly waits = new WaitRegistry(waitTicket);
  /** Most MessagePack values one request body may hold. */
  readonly envelopeValuesMax: number;
  /** Items put and got per queue, for the console's rates (server/counters.ts). */
  readonly counters = new QueueCounters();
  /** The console's files at /ui; undefined when the `ui` option is off. */
  private readonly console: ConsoleFiles | undefined;

  constructor(
    readonly engine: Engine,
    readonly leases: Leases,
    private readonly options: ResolvedServerOptions,
    readonly http: Server,
  ) {
    this.tokenCheck = options.token === undefined ? undefined : new TokenCheck(options.token);
    this.envelopeValuesMax = envelopeValuesMax(engine.limits);
    this.console = options.ui ? new ConsoleFiles() : undefined;
    const serve = (req: IncomingMessage, res: ServerResponse): void => this.serve(req, res);
    http.on("request", serve);
    // With a listener here, Node no longer answers `Expect: 100-continue` by itself: the
    // client (curl, for bodies over 1 MiB) sends its body only after every check has passed.
    http.on("checkContinue", serve);
    // Node answers these itself with a bare status and no body; every answer here has a code.
    http.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
      const expect = JSON.stringify(req.headers.expect ?? "");
      sendJson(req, res, 417, { code: "INVALID", message: `Expect: ${expect} is not supported; only 100-continue is` }, true);
    });
    http.on("connect", (_req: IncomingMessage, socket: Duplex) => {
      // Node hands the socket over without its own error listener: a reset would be uncaught.
      socket.on("error", () => socket.destroy());
      answerOnSocket(socket, 405, "INVALID", `${HEALTH_PATH} and the routes in docs/protocol.md take GET and POST, not CONNECT`, { allow: "GET, HEAD, POST" });
    });
    http.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => clientError(err, socket));
  }

  /**
   * Every request starts here. The checks that need no body run at once; a request that
   * passes them becomes an InFlight, which reads the body and runs the route.
   */
  private serve(req: IncomingMessage, res: ServerResponse): void {
    if (this.closing) this.lastRequestAt = Date.now();
    let request: InFlight | undefined;
    try {
      request = this.admit(req, res);
    } catch (err) {
      this.answerError(req, res, err);
      return;
    }
    if (request === undefined) return;
    this.inFlight.add(request);
    request.start();
  }

  /** Runs the checks in order; undefined when the request was answered already (health). */
  private admit(req: IncomingMessage, res: ServerResponse): InFlight | undefined {
    const path = pathOf(req.url ?? "/");
    if (path === HEALTH_PATH) {
      this.health(req, res);
      return undefined;
    }
    if (this.console !== undefined && ConsoleFiles.owns(path)) {
      this.console.serve(path, req, res);
      return undefined;
    }
    const head = readHead(req);
    this.tokenCheck?.check(head.authorization);
    const route = ROUTES_BY_PATH.get(path);
    if (route === undefined) throw new NotFoundError(`no route ${JSON.stringify(path)}; see docs/protocol.md`);
    if (req.method !== "POST") throw new MethodNotAllowed(`${path} takes POST, not ${req.method}`, "POST");
    if (this.closing) throw new UnavailableError("the server is shutting down; nothing was done");
    checkContentType(head);
    const bytesMax = Math.min(route.bodyBytesMax(this.engine.limits), this.options.requestBytesMax);
    checkDeclaredLength(head, bytesMax);
    if (head.expect?.toLowerCase() === "100-continue") res.writeContinue();
    return new InFlight(this, req, res, route, bytesMax);
  }

  /** Answers an error; an unread body is discarded by Node after the answer, or the connection closes (reply.ts). */
  answerError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const allow = err instanceof MethodNotAllowed ? { allow: err.allow } : undefined;
    const error = err instanceof MethodNotAllowed ? { status: 405, code: "INVALID", message: err.message } : errorReply(err, this.options.logError);
    sendError(req, res, error, this.closing, allow);
  }

  answer(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
    sendReply(req, res, reply, this.closing);
  }

  /** Answered (or the client is gone): no longer in flight for a graceful close. */
  finished(request: InFlight): void {
    this.inFlight.delete(request);
    if (this.inFlight.size === 0) this.drained?.();
  }

  private health(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET" && req.method !== "HEAD") throw new MethodNotAllowed(`${HEALTH_PATH} takes GET, not ${req.method}`, "GET, HEAD");
    if (this.closing) throw new UnavailableError("the server is shutting down");
    if (this.engine instanceof RecoveringEngine && this.engine.recovering) {
      throw new UnavailableError("the server is reopening its store after a storage failure");
    }
    sendJson(req, res, 200, { status: "ok", version: PACKAGE_VERSION }, this.closing);
  }

  logError(message: string, error: unknown): void {
    this.options.logError(message, error);
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Caps a requested wait at longPollMaxMs; negative, NaN and infinite waits go through for the engine to refuse. */
  capWait(timeoutMs: number | undefined): number | undefined {
    const longPollMaxMs = this.options.longPollMaxMs;
    if (timeoutMs === undefined) return longPollMaxMs;
    return Number.isFinite(timeoutMs) && timeoutMs >= 0 ? Math.min(timeoutMs, longPollMaxMs) : timeoutMs;
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.lastRequestAt = Date.now();
    // Stop listening, but leave open connections be for now. Node's http close() also
    // closes the idle ones at once, and a client that is just sending a request on one of
    // them sees a reset: for a call that is not retry-safe, an UNAVAILABLE that "may or may
    // not have taken effect" (95 puts across four restarts under load, none of them run).
    // Kept open, such a connection gets its request answered 503 UNAVAILABLE with
    // `connection: close`, which every client retries safely.
    const stopped = new Promise<void>((resolve) => NetServer.prototype.close.call(this.http, () => resolve()));
    for (const request of this.inFlight) request.abort(new ClosedError("the server is shutting down"));
    await this.drain();
    // Then, while requests keep coming on open connections (each answered 503 and its
    // connection closed), wait for a quiet moment; the connections left are closed then.
    const open = await new Promise<number>((resolve) => this.http.getConnections((err, count) => resolve(err ? 1 : count)));
    const lingerUntil = Date.now() + SHUTDOWN_LINGER_MAX_MS;
    while (open > 0) {
      const now = Date.now();
      const quietFor = now - this.lastRequestAt;
      if (quietFor >= SHUTDOWN_QUIET_MS || now >= lingerUntil) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(SHUTDOWN_QUIET_MS - quietFor, lingerUntil - now)));
    }
    this.http.closeAllConnections();
    await stopped;
    await this.leases.stop();
    await this.engine.close();
  }

  /** Waits for in-flight requests to be answered, at most closeGraceMs. */
  private async drain(): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: LongTimer | undefined;
    await new Promise<void>((resolve) => {
      this.drained = resolve;
      timer = setLongTimeout(resolve, this.options.closeGraceMs);
    });
    timer?.clear();
  }
}

/**
 * One request being served, and the route's view of it (RouteContext). Its abort signal,
 * which releases an engine wait when the client goes away or the server closes, is made
 * only when a route asks for it: most requests never wait, and an AbortController and a
 * close listener per request were a visible share of the server's time.
 */
class InFlight implements RouteContext, BodySink {
  private controller: AbortController | undefined;
  /** The envelope's `waitId`: the id under which the client may cancel this call's wait. */
  private waitId: string | undefined;
  readonly engine: Engine;
  readonly leases: Leases;
  readonly counters: QueueCounters;

  constructor(
    private readonly edge: HttpEdge,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: Route,
    private readonly bytesMax: number,
  ) {
    this.engine = edge.engine;
    this.leases = edge.leases;
    this.counters = edge.counters;
  }

  start(): void {
    new BodyReader(this.req, this.bytesMax, this).start();
  }

  bodyRead(body: Buffer): void {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(body, this.edge.envelopeValuesMax);
    } catch (err) {
      this.bodyFailed(err as Error);
      return;
    }
    void this.run(envelope);
  }

  bodyFailed(err: Error): void {
    this.edge.answerError(this.req, this.res, err);
    this.edge.finished(this);
  }

  private async run(envelope: Envelope): Promise<void> {
    try {
      if (envelope.waitId !== undefined) this.waitId = checkWaitId(envelope.waitId);
      const reply = await this.route.handle(this, envelope);
      this.edge.answer(this.req, this.res, reply);
    } catch (err) {
      this.edge.answerError(this.req, this.res, err);
    } finally {
      if (this.waitId !== undefined) this.edge.waits.end(this.waitId, this.controller);
      this.edge.finished(this);
    }
  }

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    const res = this.res;
    const gone = (): void => {
      if (!res.writableFinished) controller.abort(new ClosedError("the client closed the connection"));
    };
    if (res.destroyed) gone();
    else res.once("close", gone);
    // Only waiting calls ask for the signal: this is a wait its client may cancel by id.
    if (this.waitId !== undefined) this.edge.waits.register(this.waitId, controller);
    return controller.signal;
  }

  cancelWaits(ids: readonly string[]): void {
    this.edge.waits.cancel(ids);
  }

  waitTicket(): number | undefined {
    return this.waitId === undefined ? undefined : this.edge.waits.ticket(this.waitId);
  }

  closing(): boolean {
    return this.edge.isClosing;
  }

  capWait(timeoutMs: number | undefined): number | undefined {
    return this.edge.capWait(timeoutMs);
  }

  logError(message: string, error: unknown): void {
    this.edge.logError(message, error);
  }

  abort(reason: Error): void {
    this.controller?.abort(reason);
  }
}

/**
 * Bodies up to this size are unpacked at once. A bigger one is first measured by its
 * headers (proto/chunked.ts): bytes after the envelope are refused there, not by msgpackr,
 * whose error message for them is a JSON dump of everything it decoded (a 255 MiB put with
 * one byte too many ran the server out of memory), and so is a body of more values than
 * any call needs (100 million empty items in a 200 MB put did the same).
 */
const MEASURED_BODY_BYTES_MIN = 64 * 1024;

function decodeEnvelope(body: Buffer, valuesMax: number): Envelope {
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

/** The path of a request target: origin form (`/v1/...?query`) or absolute form (`http://host/v1/...`, RFC 9112 3.2.2). */
function pathOf(target: string): string {
  if (target.charCodeAt(0) !== 0x2f /* / */ && /^https?:\/\//i.test(target)) {
    const start = target.indexOf("/", target.indexOf("//") + 2);
    target = start === -1 ? "/" : target.slice(start);
  }
  const query = target.indexOf("?");
  return query === -1 ? target : target.slice(0, query);
}

/** The answer Node is writing on a connection, if any (its own field: Node has no public accessor). */
function responseOn(socket: Duplex): ServerResponse | null | undefined {
  return (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
}

/** Sockets already answered after a framing error: the parser may report the same error again. */
const answeredSockets = new WeakSet<Duplex>();

/**
 * Bytes that are not HTTP/1.1 (a bad request line, conflicting lengths, a bad chunk, headers
 * past Node's bound, a request that took too long to arrive). Node would answer with a bare
 * status and close; here the answer has a code like every other. An answer already under
 * way on this connection (the bad bytes came after a good request) is finished first, so
 * its client learns what became of that request.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
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
function answerOnSocket(socket: Duplex, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
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

class MethodNotAllowed extends Error {
  constructor(message: string, readonly allow: string) {
    super(message);
  }
}

/**
 * Binds the port. A port in use is LOCKED, like a data folder open elsewhere (the arguments
 * are fine; another process holds the resource); a host that is not this machine's, or a
 * port that needs privileges, is INVALID; neither is INTERNAL.
 */
function listen(http: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      const where = `cannot listen on ${host}:${port}`;
      const why =
        err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" || err.code === "EAI_AGAIN" ? "the host is not an address of this machine"
        : err.code === "EACCES" ? "permission denied (ports below 1024 need privileges)"
        : undefined;
      if (err.code === "EADDRINUSE") reject(new LockedError(`${where}: the port is in use (EADDRINUSE)`, { cause: err }));
      else reject(why === undefined ? err : new InvalidError(`${where}: ${why} (${err.code})`, { cause: err }));
    };
    http.once("error", failed);
    http.listen(port, host, () => {
      http.off("error", failed);
      resolve(http.address() as AddressInfo);
    });
  });
}

function urlOf(address: AddressInfo): string {
  const unspecified = address.address === "0.0.0.0" || address.address === "::";
  const host = unspecified ? (address.family === "IPv6" ? "::1" : "127.0.0.1") : address.address;
  return `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
}

/** Opens the engine and serves it over HTTP; resolves once the port is bound. */
export async function startServer(options: ServerOptions | null = {}): Promise<LarderServer> {
  if (options === null || options === undefined) options = {};
  if (typeof options !== "object" || Array.isArray(options)) throw new InvalidError("startServer() takes an options object");
  const resolved = resolveServerOptions(options);
  // An in-memory store cannot be reopened (that would empty it), nor fail a write to disk.
  // On PostgreSQL the database is shared by several servers: ephemeral leases live in its
  // rows (heartbeat_at), reaped by whichever process holds the sweeper lease, not here.
  const postgres = options.postgres !== undefined;
  const engine: Engine = postgres
    ? await (await import("../postgres/index.ts")).openPostgres({ ...engineOptions(options), ephemeralExpiryMs: resolved.ephemeralExpiryMs })
    : options.memory === true
      ? await openEngine(engineOptions(options))
      : await RecoveringEngine.open(engineOptions(options), resolved.logError);
  try {
    const leases = new Leases({
      clock: options.clock ?? Date,
      expiryMs: resolved.ephemeralExpiryMs,
      reapIntervalMs: resolved.reapIntervalMs,
      deleteObject: (kind, id) => engine.deleteObjectById(kind, id),
      logError: resolved.logError,
    });
    for (const record of await engine.listEphemeral()) leases.start(record.kind, record.id);
    if (engine instanceof RecoveringEngine) {
      engine.onReopened = async () => {
        leases.renewAll();
        // An object whose reaping failed with the store lost its lease but may still be there.
        for (const record of await engine.listEphemeral()) if (!leases.has(record.id)) leases.start(record.kind, record.id);
      };
    }
    const http = createServer({ keepAliveTimeout: KEEP_ALIVE_MS });
    const edge = new HttpEdge(engine, leases, resolved, http);
    const address = await listen(http, resolved.host, resolved.port);
    if (!postgres) leases.startReaper();
    const close = () => edge.close();
    return { url: urlOf(address), close, [Symbol.asyncDispose]: close };
  } catch (err) {
    await engine.close();
    throw err;
  }
}
