// A TCP proxy for tests of the remote client: it counts requests by path, can cut a
// batch's connection after forwarding it (or any connection, at random, as an answer
// comes back), and can hold back the answers to one path until
// release(). Used by test/server/batch.test.ts and test/client/waits.test.ts.

import { connect as netConnect, createServer as createTcpServer, type Socket } from "node:net";
import { ROUTES } from "../../proto/calls.ts";

export interface Proxy {
  readonly url: string;
  /** Requests seen, by path. */
  readonly requests: Map<string, number>;
  /** Batch requests to forward whose answer is then withheld and the connection reset. */
  cutBatches: number;
  /**
   * The chance (0 to 1) that an answer is withheld and its connection reset instead: the
   * request reached the server, which ran it, and its answer never reaches the client.
   */
  cutAnswers: number;
  /** Connections reset by cutAnswers so far. */
  answersCut: number;
  /** Client connections accepted so far. */
  connectionsOpened: number;
  /**
   * When above 0, answers reach the client at most this many bytes every 50 ms, on each
   * connection (a slow link); the server's bytes wait, unread, in the proxy's socket.
   */
  answerBytesPerTick: number;
  /**
   * Answers on a connection whose latest request was to this path are held back until
   * `release()`; it can be set while such a request is in flight (a long-poll).
   */
  holdPath: string | undefined;
  release(): void;
}

/**
 * A TCP proxy in front of `target` that counts requests by path and can break a batch's
 * connection after forwarding it. Given several targets (servers sharing one database),
 * it sends each new connection to the next, in turn: a call sent again after a cut
 * connection usually reaches another server.
 */
export async function proxy(target: string | string[], cleanups: Array<() => Promise<void>>): Promise<Proxy> {
  const targetPorts = (Array.isArray(target) ? target : [target]).map((t) => Number(new URL(t).port));
  // The proxy speaks the target's scheme: http://, or larder:// (the framed transport, whose
  // frames it forwards as bytes; only cutAnswers applies to them).
  const protocol = new URL(Array.isArray(target) ? target[0]! : target).protocol;
  let turn = 0;
  const sockets = new Set<Socket>();
  const held: Array<() => void> = [];
  const state: Proxy = {
    url: "",
    requests: new Map(),
    cutBatches: 0,
    cutAnswers: 0,
    answersCut: 0,
    connectionsOpened: 0,
    answerBytesPerTick: 0,
    holdPath: undefined,
    release: () => {
      state.holdPath = undefined;
      for (const go of held.splice(0)) go();
    },
  };
  const tcp = createTcpServer((downstream) => {
    state.connectionsOpened++;
    const upstream = netConnect(targetPorts[turn++ % targetPorts.length]!, "127.0.0.1");
    let seen = "";
    let cut = false;
    let lastPath: string | undefined;
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    downstream.on("data", (chunk: Buffer) => {
      // Request lines in the stream so far (kept short: only the tail can hold a split line).
      seen += chunk.toString("latin1");
      for (const m of seen.matchAll(/POST (\/v1\/[a-z/-]+) HTTP\/1\.1\r\n/g)) {
        state.requests.set(m[1]!, (state.requests.get(m[1]!) ?? 0) + 1);
        if (m[1] === ROUTES.batch && state.cutBatches > 0) {
          state.cutBatches--;
          cut = true;
        }
        lastPath = m[1];
      }
      seen = seen.slice(-64).replace(/^[\s\S]*HTTP\/1\.1\r\n/, "");
      upstream.write(chunk);
    });
    // A slow link: what came from the server, passed on a tick's worth at a time.
    const slow: Buffer[] = [];
    let ticker: NodeJS.Timeout | undefined;
    const tick = (): void => {
      for (let budget = state.answerBytesPerTick; budget > 0 && slow.length > 0; ) {
        const piece = slow[0]!.subarray(0, budget);
        budget -= piece.length;
        if (piece.length === slow[0]!.length) slow.shift();
        else slow[0] = slow[0]!.subarray(piece.length);
        downstream.write(piece);
      }
      if (slow.length > 0) return;
      clearInterval(ticker);
      ticker = undefined;
      upstream.resume();
    };
    upstream.on("data", (chunk: Buffer) => {
      if (!cut && state.cutAnswers > 0 && Math.random() < state.cutAnswers) {
        cut = true;
        state.answersCut++;
      }
      if (cut) downstream.resetAndDestroy();
      else if (lastPath !== undefined && lastPath === state.holdPath) held.push(() => downstream.write(chunk));
      else if (state.answerBytesPerTick > 0) {
        slow.push(chunk);
        upstream.pause();
        ticker ??= setInterval(tick, 50);
      } else downstream.write(chunk);
    });
    downstream.on("close", () => clearInterval(ticker));
    downstream.on("close", () => upstream.destroy());
    upstream.on("close", () => downstream.destroy());
  });
  await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => tcp.close(resolve));
  });
  return Object.assign(state, { url: `${protocol}//127.0.0.1:${(tcp.address() as { port: number }).port}` });
}

