// The dispatch core that every transport of the server shares (the HTTP edge,
// server/http-edge.ts, and the framed TCP transport, server/wire-edge.ts): the engine and
// what lives beside it (ephemeral leases, waits by id, queue counters), the calls in flight
// and the graceful close. A transport admits a call (auth, route, bounds), decodes its
// envelope (server/decode.ts), and hands it here as a ServedCall; the route makes its one
// engine call (server/routes.ts); the transport writes the answer in its own framing.
//
// Closing: `beginClose()` marks the server closing (transports then refuse new calls with
// UNAVAILABLE) and releases every wait in flight (routes answer a released long-poll as if
// nothing arrived); `drain()` waits for the other calls to be answered, at most closeGraceMs.

import { waitTicket, type Engine } from "../engine/index.ts";
import { ClosedError } from "../proto/errors.ts";
import { setLongTimeout, type LongTimer } from "../proto/timer.ts";
import type { Envelope } from "./envelope.ts";
import type { Leases } from "./leases.ts";
import { QueueCounters } from "./counters.ts";
import type { ResolvedServerOptions } from "./options.ts";
import type { ServerMetrics } from "./metrics.ts";
import { envelopeValuesMax, type Reply, type Route, type RouteContext } from "./routes.ts";
import { WaitRegistry, checkWaitId } from "./waits.ts";

export class Dispatcher {
  private closing = false;
  private readonly inFlight = new Set<ServedCall>();
  private drained: (() => void) | undefined;
  /** Waits in progress by the id their client gave them, for waits/cancel. */
  readonly waits = new WaitRegistry(waitTicket);
  /** Most MessagePack values one request body may hold. */
  readonly envelopeValuesMax: number;
  /** Items put and got per queue, for the console's rates (server/counters.ts). */
  readonly counters = new QueueCounters();

  constructor(
    readonly engine: Engine,
    readonly leases: Leases,
    readonly options: ResolvedServerOptions,
    /** What GET /metrics reports (server/metrics.ts); undefined when the `metrics` option is off. */
    readonly metrics?: ServerMetrics,
  ) {
    this.envelopeValuesMax = envelopeValuesMax(engine.limits);
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** A call admitted by a transport: in flight until `finished`. */
  begin(call: ServedCall): void {
    this.inFlight.add(call);
  }

  /** Answered (or its client is gone): no longer in flight for a graceful close. */
  finished(call: ServedCall): void {
    this.inFlight.delete(call);
    if (this.inFlight.size === 0) this.drained?.();
  }

  /**
   * Runs the route for a decoded envelope; the call's wait id (if any) is registered and
   * ended around it. Always a promise: a route that refuses its envelope at once (a field
   * of the wrong type) throws before it makes one, and that becomes a rejection here.
   */
  run(call: ServedCall, route: Route, envelope: Envelope): Promise<Reply> {
    if (envelope.waitId !== undefined) return this.runWait(call, route, envelope);
    try {
      return route.handle(call, envelope);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async runWait(call: ServedCall, route: Route, envelope: Envelope): Promise<Reply> {
    try {
      call.waitId = checkWaitId(envelope.waitId);
      return await route.handle(call, envelope);
    } finally {
      if (call.waitId !== undefined) this.waits.end(call.waitId, call.controller);
    }
  }

  /** Caps a requested wait at longPollMaxMs; negative, NaN and infinite waits go through for the engine to refuse. */
  capWait(timeoutMs: number | undefined): number | undefined {
    const longPollMaxMs = this.options.longPollMaxMs;
    if (timeoutMs === undefined) return longPollMaxMs;
    return Number.isFinite(timeoutMs) && timeoutMs >= 0 ? Math.min(timeoutMs, longPollMaxMs) : timeoutMs;
  }

  logError(message: string, error: unknown): void {
    this.options.logError(message, error);
  }

  /** From now on transports refuse new calls; waits in flight are released. */
  beginClose(): void {
    this.closing = true;
    for (const call of this.inFlight) call.abort(new ClosedError("the server is shutting down"));
  }

  /** Waits for in-flight calls to be answered, at most closeGraceMs. */
  async drain(): Promise<void> {
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
 * One call being served, and the route's view of it (RouteContext). Its abort signal,
 * which releases an engine wait when the client goes away or the server closes, is made
 * only when a route asks for it: most calls never wait, and an AbortController and a
 * close listener per call were a visible share of the server's time.
 */
export abstract class ServedCall implements RouteContext {
  controller: AbortController | undefined;
  /** The envelope's `waitId`: the id under which the client may cancel this call's wait. */
  waitId: string | undefined;
  readonly engine: Engine;
  readonly leases: Leases;
  readonly counters: QueueCounters;

  constructor(protected readonly core: Dispatcher) {
    this.engine = core.engine;
    this.leases = core.leases;
    this.counters = core.counters;
  }

  /** Calls `gone` once if the client goes away before the answer is written (at once if it has already). */
  protected abstract watchGone(gone: () => void): void;

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    this.watchGone(() => controller.abort(new ClosedError("the client closed the connection")));
    // Only waiting calls ask for the signal: this is a wait its client may cancel by id.
    if (this.waitId !== undefined) this.core.waits.register(this.waitId, controller);
    return controller.signal;
  }

  cancelWaits(ids: readonly string[]): void {
    this.core.waits.cancel(ids);
  }

  waitTicket(): number | undefined {
    return this.waitId === undefined ? undefined : this.core.waits.ticket(this.waitId);
  }

  closing(): boolean {
    return this.core.isClosing;
  }

  capWait(timeoutMs: number | undefined): number | undefined {
    return this.core.capWait(timeoutMs);
  }

  logError(message: string, error: unknown): void {
    this.core.logError(message, error);
  }

  abort(reason: Error): void {
    this.controller?.abort(reason);
  }
}
