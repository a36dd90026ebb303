// The HTTP/1.1 edge over the dispatch core (server/dispatch.ts). Each request is checked in
// this order, each step before any work is done: health route, auth, route, method, server
// closing, content type, declared length, streamed length, MessagePack decoding, envelope
// types; then the route makes its one engine call. docs/protocol.md describes the result
// for clients.
//
// Closing: the dispatch core releases waits and drains the calls in flight; this edge stops
// accepting, answers requests that arrive on open connections with 503 UNAVAILABLE, and
// keeps those connections until a quiet moment (see closeConnections).

import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { Server as NetServer } from "node:net";
import { performance } from "node:perf_hooks";
import { RecoveringEngine } from "./recovering.ts";
import { NotFoundError, UnavailableError } from "../proto/errors.ts";
import { HEALTH_PATH } from "../proto/wire.ts";
import { PACKAGE_VERSION } from "../proto/version.ts";
import type { TokenCheck } from "./auth.ts";
import { BodyReader, checkContentType, checkDeclaredLength, readHead, type BodySink } from "./body.ts";
import { ConsoleFiles } from "./console.ts";
import { decodeEnvelope } from "./decode.ts";
import { Dispatcher, ServedCall } from "./dispatch.ts";
import type { Envelope } from "./envelope.ts";
import { errorReply, sendError, sendJson, sendReply, sendText, type ErrorReply } from "./reply.ts";
import { METRICS_PATH, type ServerMetrics } from "./metrics.ts";
import type { ServerLogger } from "./log.ts";
import { ROUTES_BY_PATH, type Reply, type Route } from "./routes.ts";
import { answerOnSocket, clientError } from "./socket-answers.ts";

/**
 * At shutdown, open connections are kept after the in-flight requests are answered until
 * no request has come for SHUTDOWN_QUIET_MS (at most SHUTDOWN_LINGER_MAX_MS): a client
 * sending on one meanwhile gets 503 UNAVAILABLE (retried by every client), not a reset.
 */
const SHUTDOWN_QUIET_MS = 30;
const SHUTDOWN_LINGER_MAX_MS = 200;

/** Server keep-alive outlasts the client's (10 s), so a client never reuses a socket the server is closing. */
export const KEEP_ALIVE_MS = 65_000;

export class HttpEdge {
  /** When the last request came in while closing (see closeConnections). */
  private lastRequestAt = 0;
  /** The console's files at /ui; undefined when the `ui` option is off. */
  private readonly console: ConsoleFiles | undefined;
  private stopped: Promise<void> | undefined;
  /** Where a line per answered request goes; undefined when the access log is off. */
  private readonly accessLog: ServerLogger | undefined;
  /** Whether answers are timed: for the metrics or the access log. */
  readonly timed: boolean;

  constructor(
    readonly core: Dispatcher,
    private readonly tokenCheck: TokenCheck | undefined,
    readonly http: Server,
  ) {
    this.console = core.options.ui ? new ConsoleFiles() : undefined;
    this.accessLog = core.options.accessLog;
    this.timed = core.metrics !== undefined || this.accessLog !== undefined;
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
   * passes them becomes an HttpCall, which reads the body and runs the route.
   */
  private serve(req: IncomingMessage, res: ServerResponse): void {
    if (this.core.isClosing) this.lastRequestAt = Date.now();
    const startedAt = this.timed ? performance.now() : 0;
    let request: HttpCall | undefined;
    try {
      request = this.admit(req, res, startedAt);
    } catch (err) {
      const error = this.answerError(req, res, err);
      if (startedAt !== 0) this.answered(req, undefined, error.status, error.code, startedAt);
      return;
    }
    if (request === undefined) return;
    this.core.begin(request);
    request.start();
  }

  /** Runs the checks in order; undefined when the request was answered already (health). */
  private admit(req: IncomingMessage, res: ServerResponse, startedAt: number): HttpCall | undefined {
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
    if (path === METRICS_PATH && this.core.metrics !== undefined) {
      this.scrape(req, res, this.core.metrics);
      return undefined;
    }
    const route = ROUTES_BY_PATH.get(path);
    if (route === undefined) throw new NotFoundError(`no route ${JSON.stringify(path)}; see docs/protocol.md`);
    if (req.method !== "POST") throw new MethodNotAllowed(`${path} takes POST, not ${req.method}`, "POST");
    if (this.core.isClosing) throw new UnavailableError("the server is shutting down; nothing was done");
    checkContentType(head);
    const bytesMax = Math.min(route.bodyBytesMax(this.core.engine.limits), this.core.options.requestBytesMax);
    checkDeclaredLength(head, bytesMax);
    if (head.expect?.toLowerCase() === "100-continue") res.writeContinue();
    return new HttpCall(this, req, res, route, bytesMax, startedAt);
  }

  /** GET /metrics: the Prometheus text format (server/metrics.ts), after the token check. */
  private scrape(req: IncomingMessage, res: ServerResponse, metrics: ServerMetrics): void {
    if (req.method !== "GET" && req.method !== "HEAD") throw new MethodNotAllowed(`${METRICS_PATH} takes GET, not ${req.method}`, "GET, HEAD");
    metrics.text().then(
      (text) => sendText(req, res, 200, metrics.contentType, text, this.core.isClosing),
      (err: unknown) => this.answerError(req, res, err),
    );
  }

  /** Counts an answered request in the metrics and writes its access-log line. */
  answered(req: IncomingMessage, route: Route | undefined, status: number, outcome: string, startedAt: number): void {
    // A request refused before its route was looked up (auth, closing) still counts under it;
    // a path that is no route counts as "other", so that scanners cannot add label values.
    const label = (route ?? ROUTES_BY_PATH.get(pathOf(req.url ?? "/")))?.path ?? "other";
    this.core.metrics?.request(label, outcome, startedAt);
    this.accessLog?.info(
      { method: req.method, path: req.url, route: label, status, outcome, ms: Math.round((performance.now() - startedAt) * 100) / 100, remote: req.socket.remoteAddress },
      "request",
    );
  }

  /** Answers an error; an unread body is discarded by Node after the answer, or the connection closes (reply.ts). */
  answerError(req: IncomingMessage, res: ServerResponse, err: unknown): ErrorReply {
    const allow = err instanceof MethodNotAllowed ? { allow: err.allow } : undefined;
    const error = err instanceof MethodNotAllowed ? { status: 405, code: "INVALID", message: err.message } : errorReply(err, this.core.options.logError);
    sendError(req, res, error, this.core.isClosing, allow);
    return error;
  }

  answer(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
    sendReply(req, res, reply, this.core.isClosing);
  }

  private health(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET" && req.method !== "HEAD") throw new MethodNotAllowed(`${HEALTH_PATH} takes GET, not ${req.method}`, "GET, HEAD");
    if (this.core.isClosing) throw new UnavailableError("the server is shutting down");
    const engine = this.core.engine;
    if (engine instanceof RecoveringEngine && engine.recovering) {
      throw new UnavailableError("the server is reopening its store after a storage failure");
    }
    // A client caps its retries of a call with a request id by the retention (docs/protocol.md, Retries).
    const retention = engine.appliesRequestIds === true ? engine.requestIdRetentionMs : undefined;
    const body = retention === undefined ? { status: "ok", version: PACKAGE_VERSION } : { status: "ok", version: PACKAGE_VERSION, requestIdRetentionMs: retention };
    sendJson(req, res, 200, body, this.core.isClosing);
  }

  /**
   * Stops listening, but leaves open connections be for now. Node's http close() also
   * closes the idle ones at once, and a client that is just sending a request on one of
   * them sees a reset: for a call that is not retry-safe, an UNAVAILABLE that "may or may
   * not have taken effect" (95 puts across four restarts under load, none of them run).
   * Kept open, such a connection gets its request answered 503 UNAVAILABLE with
   * `connection: close`, which every client retries safely.
   */
  stopAccepting(): void {
    this.lastRequestAt = Date.now();
    this.stopped = new Promise<void>((resolve) => NetServer.prototype.close.call(this.http, () => resolve()));
  }

  /**
   * After the calls in flight are answered: while requests keep coming on open connections
   * (each answered 503 and its connection closed), waits for a quiet moment; the
   * connections left are closed then.
   */
  async closeConnections(): Promise<void> {
    const open = await new Promise<number>((resolve) => this.http.getConnections((err, count) => resolve(err ? 1 : count)));
    const lingerUntil = Date.now() + SHUTDOWN_LINGER_MAX_MS;
    while (open > 0) {
      const now = Date.now();
      const quietFor = now - this.lastRequestAt;
      if (quietFor >= SHUTDOWN_QUIET_MS || now >= lingerUntil) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(SHUTDOWN_QUIET_MS - quietFor, lingerUntil - now)));
    }
    this.http.closeAllConnections();
    await this.stopped;
  }
}

/** One HTTP request being served: reads its body, runs its route, answers. */
class HttpCall extends ServedCall implements BodySink {
  constructor(
    private readonly edge: HttpEdge,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: Route,
    private readonly bytesMax: number,
    /** performance.now() when the request came in; 0 when answers are not timed. */
    private readonly startedAt: number,
  ) {
    super(edge.core);
  }

  start(): void {
    new BodyReader(this.req, this.bytesMax, this).start();
  }

  bodyRead(body: Buffer): void {
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(body, this.core.envelopeValuesMax);
    } catch (err) {
      this.bodyFailed(err as Error);
      return;
    }
    void this.run(envelope);
  }

  bodyFailed(err: Error): void {
    const error = this.edge.answerError(this.req, this.res, err);
    if (this.startedAt !== 0) this.edge.answered(this.req, this.route, error.status, error.code, this.startedAt);
    this.core.finished(this);
  }

  private async run(envelope: Envelope): Promise<void> {
    try {
      const reply = await this.core.run(this, this.route, envelope);
      this.edge.answer(this.req, this.res, reply);
      if (this.startedAt !== 0) this.edge.answered(this.req, this.route, 200, "ok", this.startedAt);
    } catch (err) {
      const error = this.edge.answerError(this.req, this.res, err);
      if (this.startedAt !== 0) this.edge.answered(this.req, this.route, error.status, error.code, this.startedAt);
    } finally {
      this.core.finished(this);
    }
  }

  protected watchGone(gone: () => void): void {
    const res = this.res;
    const onClose = (): void => {
      if (!res.writableFinished) gone();
    };
    if (res.destroyed) onClose();
    else res.once("close", onClose);
  }
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

class MethodNotAllowed extends Error {
  constructor(message: string, readonly allow: string) {
    super(message);
  }
}
