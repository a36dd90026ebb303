// Measures how many bytes Larder's HTTP client and server exchange per call, so that the
// bare HTTP baseline sends and answers requests of the same size. A counting TCP proxy
// sits between a Larder client and server while each primitive runs a few times; the same
// proxy then measures the bare client's header-only exchange, and the difference is the
// body size the bare baseline uses. Headers are configured alike on both clients, so the
// bytes on the wire per request match to within a few header bytes.

import { createServer, connect as netConnect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { Store } from "../../proto/api.ts";
import { BareClient, startBareServer, type PrimitiveName, type WireExchange, type WireSizer, estimatedWire } from "./bare-http.ts";
import { larderPrimitives, openRemote } from "./larder.ts";
import { randomBytes } from "node:crypto";

const CALLS_PER_PRIMITIVE = 8;

export interface CountingProxy {
  readonly url: string;
  /** Bytes client-to-server and server-to-client since the last reset. */
  readonly counts: { up: number; down: number };
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(targetUrl: string): Promise<CountingProxy> {
  const target = new URL(targetUrl);
  const counts = { up: 0, down: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = netConnect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => { client.destroy(); upstream.destroy(); });
    }
    client.on("data", (chunk: Buffer) => { counts.up += chunk.length; });
    upstream.on("data", (chunk: Buffer) => { counts.down += chunk.length; });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    reset: () => { counts.up = 0; counts.down = 0; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Measured exchanges, keyed by `${primitive}|${items}|${valueBytes}`. */
export type WireTable = Record<string, WireExchange>;

function tableKey(primitive: PrimitiveName, items: number, valueBytes: number): string {
  return `${primitive}|${items}|${valueBytes}`;
}

/**
 * Calibrates with `connectTo(proxyUrl)`, a client of a Larder server behind the proxy at
 * `serverUrl`. Measures every primitive at each batch size and value size given.
 */
export async function calibrateWire(
  serverUrl: string,
  connectTo: (url: string) => Promise<Store>,
  batches: readonly number[],
  valueSizes: readonly number[],
): Promise<WireTable> {
  const header = await bareHeaderBytes();
  const proxy = await startCountingProxy(serverUrl);
  const store = await connectTo(proxy.url);
  const table: WireTable = {};
  try {
    for (const valueBytes of valueSizes) {
      for (const batch of batches) {
        const name = `wire-calibration-${valueBytes}-${batch}`;
        const p = await larderPrimitives(store, name);
        const values = Array.from({ length: batch }, () => randomBytes(valueBytes));
        const entries = values.map((v, i) => [`k${i}`, v] as const);
        const keys = entries.map(([k]) => k);
        const measureCalls = async (primitive: PrimitiveName, requests: number, call: () => Promise<unknown>) => {
          await call(); // the first call may open a connection; it is not counted
          proxy.reset();
          for (let i = 0; i < CALLS_PER_PRIMITIVE; i++) await call();
          const perRequest = (bytes: number) => bytes / (CALLS_PER_PRIMITIVE * requests);
          table[tableKey(primitive, batch, valueBytes)] = {
            requests,
            requestBodyBytes: Math.max(0, Math.round(perRequest(proxy.counts.up) - header.up)),
            responseBodyBytes: Math.max(0, Math.round(perRequest(proxy.counts.down) - header.down)),
          };
        };
        await measureCalls("queuePut", 1, () => p.queuePut(values));
        await measureCalls("queueGet", 1, () => p.queueGet(batch));
        await measureCalls("dictPut", 1, () => p.dictPut(entries));
        await measureCalls("dictGet", batch, () => p.dictGet(keys));
        await p.dispose();
      }
    }
  } finally {
    await store.close();
    await proxy.close();
  }
  return table;
}

/** Bytes per request and per response of the bare client and server with empty bodies. */
async function bareHeaderBytes(): Promise<{ up: number; down: number }> {
  const server = await startBareServer();
  const proxy = await startCountingProxy(server.url);
  const client = new BareClient(proxy.url);
  try {
    await client.exchange(0, 0);
    proxy.reset();
    for (let i = 0; i < CALLS_PER_PRIMITIVE; i++) await client.exchange(0, 0);
    return { up: proxy.counts.up / CALLS_PER_PRIMITIVE, down: proxy.counts.down / CALLS_PER_PRIMITIVE };
  } finally {
    await client.close();
    await proxy.close();
    await server.close();
  }
}

/**
 * A sizer from a calibration table: exact where measured; otherwise a straight line through
 * the two measured batch sizes of that value size; the estimate when nothing was measured.
 */
export function sizerFromTable(table: WireTable): WireSizer {
  return (primitive, items, valueBytes) => {
    const exact = table[tableKey(primitive, items, valueBytes)];
    if (exact) return exact;
    const points = Object.entries(table)
      .map(([key, wire]) => ({ key: key.split("|"), wire }))
      .filter(({ key }) => key[0] === primitive && Number(key[2]) === valueBytes)
      .map(({ key, wire }) => ({ items: Number(key[1]), wire }))
      .sort((a, b) => a.items - b.items);
    if (points.length < 2) return estimatedWire(primitive, items, valueBytes);
    const a = points[0]!;
    const b = points[points.length - 1]!;
    const at = (pick: (w: WireExchange) => number) => {
      const perItem = (pick(b.wire) * b.wire.requests - pick(a.wire) * a.wire.requests) / (b.items - a.items);
      return Math.max(0, Math.round(pick(a.wire) * a.wire.requests + perItem * (items - a.items)));
    };
    if (primitive === "dictGet") return { ...a.wire, requests: items };
    return { requests: 1, requestBodyBytes: at((w) => w.requestBodyBytes), responseBodyBytes: at((w) => w.responseBodyBytes) };
  };
}

/**
 * Request and response sizes for the bare HTTP baseline, measured on Larder's own wire
 * (a buffered server of its own); the estimate, with the reason, when Larder over HTTP
 * is unavailable.
 */
export async function bareWireSizer(
  batches: readonly number[],
  valueSizes: readonly number[],
): Promise<{ sizer: WireSizer; table: WireTable | undefined; problem: string | undefined }> {
  try {
    const remote = await openRemote("buffered", "wire-calibration");
    try {
      const table = await calibrateWire(remote.url, remote.connectTo, batches, valueSizes);
      return { sizer: sizerFromTable(table), table, problem: undefined };
    } finally {
      await remote.close();
    }
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
    return { sizer: estimatedWire, table: undefined, problem: message };
  }
}
