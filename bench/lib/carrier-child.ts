// An echo server for bench/carriers.ts, in its own process: `--carrier=tcp|http1|http2`.
// Each answers every message with a message of the same bytes: raw TCP with Larder's
// frames (proto/frames.ts, answers of one event-loop turn in one write), node:http with
// keep-alive, node:http2 with one stream per message. Prints `{ "port": N }` when listening.

import { createServer as createHttp } from "node:http";
import { createServer as createHttp2 } from "node:http2";
import { createServer as createTcp, type AddressInfo } from "node:net";
import { parseArgs } from "./args.ts";
import { FrameReader } from "../../proto/frames.ts";

const carrier = parseArgs().extra.get("carrier");

function tcp(): Promise<number> {
  const server = createTcp((socket) => {
    socket.setNoDelay(true);
    let out: Buffer[] = [];
    const flush = (): void => {
      const pieces = out;
      out = [];
      socket.write(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
    };
    const reader = new FrameReader(
      {
        frame(payload) {
          const framed = Buffer.allocUnsafe(4 + payload.length);
          framed.writeUInt32BE(payload.length, 0);
          payload.copy(framed, 4);
          if (out.push(framed) === 1) setImmediate(flush);
        },
        largeFrame: () => "read",
        tooLarge: () => socket.destroy(),
      },
      1 << 20,
    );
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    socket.on("error", () => socket.destroy());
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

function http1(): Promise<number> {
  const server = createHttp({ keepAliveTimeout: 65_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, ["content-type", "application/msgpack", "content-length", String(body.length)]);
      res.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

function http2(): Promise<number> {
  const server = createHttp2({ settings: { maxConcurrentStreams: 1000 } });
  server.on("stream", (stream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/msgpack" });
      stream.end(Buffer.concat(chunks));
    });
    stream.on("error", () => {});
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

const start = carrier === "tcp" ? tcp : carrier === "http1" ? http1 : carrier === "http2" ? http2 : undefined;
if (start === undefined) throw new Error("--carrier=tcp|http1|http2");
const port = await start();
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.stdout.write(JSON.stringify({ port }) + "\n");
