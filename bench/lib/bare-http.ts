// A bare node:http server and an undici client: the limit of the transport. The server
// reads each request body and answers with a canned body of the size the request asks
// for (POST /r/<bytes>); nothing is parsed, stored or encoded. Each scenario sends the
// same number of requests, with the same body sizes, as Larder's HTTP client does for the
// same call (see `WireSizer`), so "larder-http vs bare-http" is Larder's cost over the wire.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { CONNECT_DEFAULTS } from "../../dist/client/remote.js";
import { startServerProcess } from "./server-process.ts";
import type { Primitives, Shape, System } from "./workload.ts";

export type PrimitiveName = "queuePut" | "queueGet" | "dictPut" | "dictGet";

/** The HTTP exchange behind one primitive call of `items` items of `valueBytes` each. */
export interface WireExchange {
  /** Requests per call (a dict get of many keys is many single gets in Larder). */
  readonly requests: number;
  /** Body bytes of each request and each response. */
  readonly requestBodyBytes: number;
  readonly responseBodyBytes: number;
}

export type WireSizer = (primitive: PrimitiveName, items: number, valueBytes: number) => WireExchange;

/**
 * A size estimate for a JSON-or-binary protocol before measured sizes are known: each value
 * travels once with ~24 bytes of framing, and each request carries ~64 bytes of ids and options.
 */
export const estimatedWire: WireSizer = (primitive, items, valueBytes) => {
  const framing = 24;
  const envelope = 64;
  switch (primitive) {
    case "queuePut":
      return { requests: 1, requestBodyBytes: envelope + items * (valueBytes + framing), responseBodyBytes: 16 };
    case "queueGet":
      return { requests: 1, requestBodyBytes: envelope, responseBodyBytes: items * (valueBytes + framing) };
    case "dictPut":
      return { requests: 1, requestBodyBytes: envelope + items * (valueBytes + 2 * framing), responseBodyBytes: 16 };
    case "dictGet":
      return { requests: items, requestBodyBytes: envelope + framing, responseBodyBytes: valueBytes + framing };
  }
};

export interface BareServer {
  readonly url: string;
  close(): Promise<void>;
}

const RESPONSE_BYTES_MAX = 64 << 20;

export async function startBareServer(): Promise<BareServer> {
  let canned = Buffer.alloc(0);
  const server: Server = createServer((req, res) => {
    const bytes = Number(/^\/r\/(\d+)$/.exec(req.url ?? "")?.[1] ?? "0");
    if (!(bytes <= RESPONSE_BYTES_MAX)) {
      res.writeHead(400).end();
      return;
    }
    req.on("data", () => {});
    req.on("end", () => {
      if (canned.length < bytes) canned = Buffer.alloc(bytes, 0x61);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes });
      res.end(canned.subarray(0, bytes));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * An undici client for the bare server, set up like Larder's (client/transport.ts): one
 * keep-alive Pool per origin with the same number of connections as Larder's client
 * (CONNECT_DEFAULTS.connections), POST requests with the same content-type and accept
 * headers sent through `pool.dispatch` with a handler that collects the whole response
 * body in memory, as Larder's client does.
 */
export class BareClient {
  private readonly pool: Pool;
  private readonly bodies = new Map<number, Buffer>();
  private readonly headers = { "content-type": "application/msgpack", accept: "application/msgpack" };

  constructor(url: string) {
    this.pool = new Pool(url, { keepAliveTimeout: 10_000, connections: CONNECT_DEFAULTS.connections });
  }

  /** One POST with a body of requestBodyBytes, reading a response of responseBodyBytes in full. */
  exchange(requestBodyBytes: number, responseBodyBytes: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let status = 0;
      let received = 0;
      this.pool.dispatch(
        { path: `/r/${responseBodyBytes}`, method: "POST", headers: this.headers, body: this.body(requestBodyBytes) },
        {
          onConnect: () => {},
          onHeaders: (statusCode: number) => {
            status = statusCode;
            return true;
          },
          onData: (chunk: Buffer) => {
            chunks.push(chunk);
            received += chunk.length;
            return true;
          },
          onComplete: () => {
            const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
            if (status !== 200) reject(new Error(`bare server answered ${status}`));
            else resolve(body.byteLength);
          },
          onError: reject,
        },
      );
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private body(bytes: number): Buffer {
    let body = this.bodies.get(bytes);
    if (body === undefined) {
      body = Buffer.alloc(bytes, 0x62);
      this.bodies.set(bytes, body);
    }
    return body;
  }
}

export class BareHttpSystem implements System {
  readonly name = "bare-http";
  readonly family = "bare-http" as const;
  readonly durability = "none" as const;
  readonly transport = "http" as const;

  private constructor(
    private readonly server: BareServer,
    private readonly sizer: WireSizer,
  ) {}

  /** The bare server runs in a child process, as the Larder server does. */
  static async start(sizer: WireSizer = estimatedWire): Promise<BareHttpSystem> {
    const child = await startServerProcess(["--child=bare"]);
    return new BareHttpSystem({ url: child.url, close: child.stop }, sizer);
  }

  /** A fresh client per shape and per slice, like the Larder HTTP systems. */
  async primitives(shape: Shape): Promise<Primitives> {
    let client = new BareClient(this.server.url);
    const call = async (primitive: PrimitiveName, items: number): Promise<number> => {
      const wire = this.sizer(primitive, items, shape.valueBytes);
      const exchanges: Array<Promise<number>> = [];
      for (let i = 0; i < wire.requests; i++) {
        exchanges.push(client.exchange(wire.requestBodyBytes, wire.responseBodyBytes));
      }
      await Promise.all(exchanges);
      return items;
    };
    return {
      queuePut: async (values) => void (await call("queuePut", values.length)),
      queueGet: (n) => call("queueGet", n),
      dictPut: async (entries) => void (await call("dictPut", entries.length)),
      dictGet: (keys) => call("dictGet", keys.length),
      release: async () => {
        await client.close();
        client = new BareClient(this.server.url);
      },
      dispose: () => client.close(),
    };
  }

  async close(): Promise<void> {
    await this.server.close();
  }
}
