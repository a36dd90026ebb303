// One RPC over HTTP: an undici Pool with keep-alive, the bearer token, bounded retries,
// batching of the calls that wait for a request slot, and the cancellation of waits. The
// undici handler of each request, which also rebuilds error bodies into the embedded
// store's error classes, is client/reply-handler.ts; how a request failed, failures.ts.
//
// Which failed calls are sent again, and how, is the retry loop shared with the framed
// transport (client/retries.ts); here an attempt is one HTTP request.

import { Pool } from "undici";
import { ClosedError, InternalError, InvalidError, NotFoundError, RequestSizeError } from "../proto/errors.ts";
import { ROUTES, type RouteName } from "../proto/calls.ts";
import { HEALTH_PATH, WAIT_IDS_MAX, MSGPACK_TYPE, isMap, packBatch, packEnvelope } from "../proto/wire.ts";
import { ConnectionFailure, NOT_SENT_CODES, ServerUnavailable } from "./failures.ts";
import { ReplyHandler, errorFromAnswer, type Reply } from "./reply-handler.ts";
import { callWithRetries } from "./retries.ts";


export interface TransportOptions {
  readonly token: string | undefined;
  readonly retryTimeoutMs: number;
  /** How long a call that does not wait waits for its answer once sent (connect() option answerTimeoutMs). */
  readonly answerTimeoutMs: number;
  /** Connections for calls that do not wait; calls that may wait have their own, uncapped. */
  readonly connections: number;
  /**
   * Requests in flight, at most, for calls that do not wait. Calls beyond that wait in the
   * client, and go together in one batch request when one of those requests answers.
   * Infinity sends every call as a request of its own.
   */
  readonly requestsInFlightMax: number;
  /** Calls that change state carry a request id, and are retried like any other (docs/protocol.md, "Request ids"). */
  readonly requestIds: boolean;
}

/**
 * A batch this client sends carries at most this many calls and bytes (a bigger call goes
 * on its own): well inside what a server accepts (BATCH_CALLS_MAX and BATCH_BYTES_MAX,
 * proto/wire.ts), so that one batch stays a short request.
 */
const SENT_BATCH_CALLS_MAX = 256;
const SENT_BATCH_BYTES_MAX = 1024 * 1024;
const BATCHED_CALL_BYTES_MAX = 64 * 1024;

/** The client keeps idle sockets open this long; the server keeps them longer (65 s), so it never closes one first. */
const KEEP_ALIVE_MS = 10_000;
/**
 * How long to wait for a long-poll's answer. The server answers every long-poll within its
 * longPollMaxMs (30 s by default, at most 240 s), so only a dead connection gets here.
 */
const HEADERS_TIMEOUT_MS = 300_000;

/**
 * After asking the server to cancel a wait (a handle or store closing), how long the call
 * waits for the wait's own answer before dropping the connection. The answer normally
 * comes at once: CLOSED, or the items the wait had already been handed.
 */
const WAIT_CANCEL_GRACE_MS = 2_000;

/** Parses `url` into the pool's origin and a base path that every route is appended to. */
function parseServerUrl(url: string): { origin: string; basePath: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidError(`not a URL: ${JSON.stringify(url)}; expected http://HOST:PORT`);
  }
  if (parsed.protocol !== "http:") throw new InvalidError(`the server URL must start with http://, got ${JSON.stringify(url)}`);
  return { origin: parsed.origin, basePath: parsed.pathname.replace(/\/+$/, "") };
}

export class Transport {
  /** Calls that answer at once: a bounded number of keep-alive connections, reused. */
  private readonly pool: Pool;
  /**
   * Calls that may wait (long-polls, puts waiting for room). Each waiting call holds its
   * connection for up to a long-poll, so they get a pool of their own without a cap:
   * otherwise enough waiting getters would leave no connection for the put that wakes them.
   */
  private readonly waitPool: Pool;
  private readonly basePath: string;
  private readonly headers: Record<string, string>;
  private closed = false;
  /** Requests for calls that do not wait, in flight on `pool`. */
  private inFlight = 0;
  /** Calls that do not wait, ready to go, waiting for a request slot (see requestsInFlightMax). */
  private ready: ReadyCall[] = [];
  /** False once the server answered that it has no batch route. */
  private batches = true;
  /** Waits being cancelled: close() lets them answer before it drops the connections. */
  private readonly cancelling = new Set<Promise<unknown>>();
  /** Requests in flight for calls that answer at once: close() lets them answer too (see close). */
  private readonly answering = new Set<Promise<unknown>>();
  /** Waits to cancel, sent together (a store closing cancels all its waits at once). */
  private cancels: Array<{ id: string; drop: () => void }> = [];
  /**
   * The server's requestIdRetentionMs (GET /v1/health), learnt before the first retry of a
   * call with a request id; Infinity from a server that does not say (it keeps no records).
   */
  private retentionMs: number | undefined;

  constructor(url: string, private readonly options: TransportOptions) {
    const { origin, basePath } = parseServerUrl(url);
    this.basePath = basePath;
    this.headers = { "content-type": MSGPACK_TYPE, accept: MSGPACK_TYPE };
    if (options.token !== undefined) this.headers.authorization = `Bearer ${options.token}`;
    const poolOptions = {
      keepAliveTimeout: KEEP_ALIVE_MS,
      connectTimeout: Math.max(1_000, options.retryTimeoutMs),
    };
    this.pool = new Pool(origin, { ...poolOptions, headersTimeout: options.answerTimeoutMs, connections: options.connections });
    this.waitPool = new Pool(origin, { ...poolOptions, headersTimeout: HEADERS_TIMEOUT_MS });
  }

  /** Sends one RPC and returns its reply map, retrying connection failures where that is safe (client/retries.ts). */
  call(route: RouteName, envelope: Record<string, unknown>, signal?: AbortSignal, retryUntil = Infinity): Promise<Reply> {
    return callWithRetries(this, this.options, route, envelope, signal, retryUntil);
  }

  /** One attempt of a call: a waiting call on the wait pool, cancellable by its wait id; any other through `send`. */
  attemptCall(route: RouteName, body: Buffer, waits: boolean, signal: AbortSignal | undefined, waitId: string | undefined): Promise<Reply> {
    return waits ? this.attempt(this.waitPool, route, body, signal, waitId) : this.send(route, body);
  }

  /** The server's requestIdRetentionMs, asked once from GET /v1/health before the first retry that needs it. */
  async requestIdRetentionMs(): Promise<number> {
    this.retentionMs ??= await this.askRetention();
    return this.retentionMs;
  }

  private async askRetention(): Promise<number> {
    let status: number;
    let answer: string;
    try {
      const res = await this.pool.request({ path: this.basePath + HEALTH_PATH, method: "GET", headersTimeout: this.options.answerTimeoutMs });
      status = res.statusCode;
      answer = await res.body.text();
    } catch (err) {
      throw new ServerUnavailable(`could not ask the Larder server for its requestIdRetentionMs: ${(err as Error).message}`, { cause: err });
    }
    if (status !== 200) throw new ServerUnavailable(`the Larder server's health answered ${status}`);
    let ms: unknown;
    try {
      ms = (JSON.parse(answer) as { requestIdRetentionMs?: unknown }).requestIdRetentionMs;
    } catch {
      ms = undefined;
    }
    return typeof ms === "number" && ms > 0 ? ms : Infinity;
  }

  /**
   * One request, through undici's dispatch with a handler of our own rather than
   * `pool.request`: no body stream, no promise per body, no header parsing. That is about
   * a quarter less client CPU per call (4 us of 17 on loopback).
   */
  private attempt(pool: Pool, route: RouteName, body: Buffer, signal: AbortSignal | undefined, waitId?: string): Promise<Reply> {
    let cancel: ((drop: () => void) => void) | undefined;
    const reply = new Promise<Reply>((resolve, reject) => {
      pool.dispatch(
        { path: this.basePath + ROUTES[route], method: "POST", headers: this.headers, body },
        new ReplyHandler(
          route,
          signal,
          resolve,
          reject,
          (err, answered) => reject(this.classify(err, answered)),
          waitId === undefined ? undefined : (drop) => cancel!(drop),
        ),
      );
    });
    if (waitId !== undefined) cancel = (drop) => this.cancelWait(waitId, drop, reply);
    else if (signal === undefined) {
      const settled = reply.then(noop, noop);
      this.answering.add(settled);
      void settled.then(() => this.answering.delete(settled));
    }
    return reply;
  }

  /**
   * The caller stopped waiting (its handle or store closed). Dropping the connection could
   * lose items the server had already handed this wait: instead the server is asked to end
   * it, and the wait's own answer settles the call, with its items if it was served. If the
   * cancel cannot be sent, or no answer comes within WAIT_CANCEL_GRACE_MS, the connection
   * is dropped after all.
   */
  private cancelWait(waitId: string, drop: () => void, reply: Promise<Reply>): void {
    const timer = setTimeout(drop, WAIT_CANCEL_GRACE_MS);
    const settled = reply.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
    this.cancelling.add(settled);
    void settled.then(() => this.cancelling.delete(settled));
    // Aborting a handle's signal cancels all its waits in one synchronous pass: they go
    // out together, up to WAIT_IDS_MAX ids per request.
    if (this.cancels.push({ id: waitId, drop }) === 1) queueMicrotask(() => this.sendCancels());
  }

  private sendCancels(): void {
    const cancels = this.cancels;
    this.cancels = [];
    for (let i = 0; i < cancels.length; i += WAIT_IDS_MAX) {
      const part = cancels.slice(i, i + WAIT_IDS_MAX);
      const body = packEnvelope({ waitIds: part.map((c) => c.id) });
      this.attempt(this.pool, "waitsCancel", body, undefined).catch(() => {
        for (const c of part) c.drop();
      });
    }
  }

  /**
   * A call that does not wait: its own request while fewer than requestsInFlightMax are in
   * flight, else it waits in `ready` for the next batch. Under load this turns many small
   * requests into a few batches; a lone caller never waits and never batches.
   */
  private send(route: RouteName, body: Buffer): Promise<Reply> {
    // A big call goes at once and takes no slot: it may be slow to send and to run, and the
    // small calls behind it must not wait for it.
    if (body.length > BATCHED_CALL_BYTES_MAX) return this.attempt(this.pool, route, body, undefined);
    if (this.inFlight < this.options.requestsInFlightMax || !this.batches) return this.single(route, body);
    return new Promise<Reply>((resolve, reject) => {
      this.ready.push({ path: ROUTES[route], route, body, resolve, reject });
    });
  }

  private single(route: RouteName, body: Buffer): Promise<Reply> {
    this.inFlight++;
    const reply = this.attempt(this.pool, route, body, undefined);
    reply.then(this.requestDone, this.requestDone);
    return reply;
  }

  private readonly requestDone = (): void => {
    this.inFlight--;
    this.sendReady();
  };

  /** Sends the ready calls while request slots are free: one call alone, several as one batch. */
  private sendReady(): void {
    while (this.ready.length > 0 && this.inFlight < this.options.requestsInFlightMax) {
      let count = 0;
      let bytes = 0;
      const callsMax = this.batches ? SENT_BATCH_CALLS_MAX : 1;
      while (count < this.ready.length && count < callsMax && (count === 0 || bytes + this.ready[count]!.body.length <= SENT_BATCH_BYTES_MAX)) {
        bytes += this.ready[count]!.body.length;
        count++;
      }
      const calls = this.ready.splice(0, count);
      if (calls.length === 1) {
        const call = calls[0]!;
        this.single(call.route, call.body).then(call.resolve, call.reject);
        continue;
      }
      this.single("batch", packBatch(calls)).then(
        (reply) => settleBatch(calls, reply, this.alone),
        (err) => this.batchFailed(calls, err),
      );
    }
  }

  /** Sends a call of a batch again on its own (a batch refused whole, or a read the server left out). */
  private readonly alone = (call: ReadyCall): void => {
    if (this.closed) {
      call.reject(new ClosedError("the remote store is closed"));
      return;
    }
    this.single(call.route, call.body).then(call.resolve, call.reject);
  };

  /**
   * A batch refused as a whole before any of its calls ran: too big for this server's
   * `requestBytesMax` (TOO_LARGE), or a server without batches (NOT_FOUND: a batch's own
   * answer is never that; a call's NOT_FOUND comes inside the replies). Each call is sent
   * again on its own, and after a NOT_FOUND this client stops batching. Any other failure
   * is each call's own, for its retry loop to judge.
   */
  private batchFailed(calls: readonly ReadyCall[], err: unknown): void {
    const refused = err instanceof RequestSizeError || err instanceof NotFoundError;
    if (err instanceof NotFoundError) this.batches = false;
    for (const call of calls) {
      if (refused) this.alone(call);
      else call.reject(err);
    }
  }

  private classify(err: unknown, answered = false): unknown {
    const code = (err as { code?: unknown })?.code;
    if (code === "UND_ERR_DESTROYED" || code === "UND_ERR_CLOSED") return new ClosedError("the remote store is closed", { cause: err });
    if (code === "UND_ERR_ABORTED") return err;
    // An answer that is not HTTP (something else listens there, or a broken proxy): the
    // request was sent, and what became of it is unknown, as with a broken connection.
    if ((err as Error | undefined)?.name === "HTTPParserError") return new ConnectionFailure(true, err);
    if (typeof code !== "string" || code === "UND_ERR_INVALID_ARG") return err;
    return new ConnectionFailure(!answered && NOT_SENT_CODES.has(code) ? false : true, err);
  }

  ensureOpen(): void {
    if (this.closed) throw new ClosedError("the remote store is closed");
  }

  /**
   * Closes every connection; calls still in flight fail with ClosedError. `lastCalls` runs
   * once the answers in flight are read, before the connections go: the acknowledgements of
   * items those answers brought (client/received.ts) may still be sent then.
   */
  async close(lastCalls?: () => Promise<void>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ready = this.ready;
    this.ready = [];
    for (const call of ready) call.reject(new ClosedError("the remote store is closed"));
    // A call in flight may have taken effect at the server already: a get handed items, a
    // pop took a value, a put was written. Dropping its connection would lose its answer,
    // and with it those items, or report a write that happened as failed. So its answer is
    // read, for up to IN_FLIGHT_GRACE_MS; a server that does not answer by then is left.
    await graceful(Promise.all(this.answering), IN_FLIGHT_GRACE_MS);
    // Waits being cancelled may still bring back items they were handed (cancelWait).
    await Promise.all(this.cancelling);
    if (lastCalls !== undefined) {
      this.closed = false;
      try {
        await graceful(lastCalls(), IN_FLIGHT_GRACE_MS);
      } finally {
        this.closed = true;
      }
    }
    await Promise.all([this.pool.destroy(), this.waitPool.destroy()]);
  }
}

const noop = (): void => {};

/** How long close() waits for the answers to calls in flight that answer at once. */
const IN_FLIGHT_GRACE_MS = 2_000;

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
async function graceful(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.then(noop, noop), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** A call waiting for a request slot. */
interface ReadyCall {
  readonly path: string;
  readonly route: RouteName;
  readonly body: Buffer;
  resolve(reply: Reply): void;
  reject(err: unknown): void;
}

/** Hands each call of a batch its own answer: `replies` holds `[status, answer]` per call, in order. */
function settleBatch(calls: readonly ReadyCall[], reply: Reply, alone: (call: ReadyCall) => void): void {
  const replies = reply.replies;
  if (!Array.isArray(replies) || replies.length !== calls.length) {
    const err = new InternalError(`malformed answer from the server: a batch of ${calls.length} calls answered without as many replies`);
    for (const call of calls) call.reject(err);
    return;
  }
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i]!;
    const entry: unknown = replies[i];
    const [status, answer] = Array.isArray(entry) && entry.length === 2 ? (entry as [unknown, unknown]) : [undefined, undefined];
    if (typeof status !== "number" || !isMap(answer)) {
      call.reject(new InternalError(`malformed answer from the server: reply ${i} of a batch is not [status, map]`));
    } else if (status === 200) {
      call.resolve(answer as Reply);
    } else if ((answer as Reply).resend === "alone") {
      // A read the server left out of a big batch answer (docs/protocol.md, batch).
      alone(call);
    } else {
      call.reject(errorFromAnswer(answer as Reply) ?? new InternalError(`malformed error answer (HTTP ${status}) in a batch`));
    }
  }
}

