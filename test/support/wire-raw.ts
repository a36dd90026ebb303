// A raw client of the framed transport for tests (docs/protocol.md, "The framed
// transport"): it writes whatever bytes a test gives it and reads the frames that come
// back, decoded as `[callId, status, body]`, and tells when the server closed the connection.

import { connect, type Socket } from "node:net";
import { FrameReader, WIRE_VERSION, callHead, wholeFrame } from "../../proto/frames.ts";
import { packEnvelope, unpackEnvelope } from "../../proto/wire.ts";

export interface RawAnswer {
  readonly callId: number;
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface RawConnection {
  readonly socket: Socket;
  /** Answers read so far, in order. */
  readonly answers: RawAnswer[];
  /** Resolves once the server closed the connection. */
  readonly closed: Promise<void>;
  write(bytes: Uint8Array): void;
  /** Sends the hello with this token (none: no token field). */
  hello(token?: string): void;
  /** Sends a call frame. */
  call(callId: number, path: string, envelope: Record<string, unknown>): void;
  /** Resolves with the answer to `callId` (0: the connection's), waiting for it. */
  answer(callId: number): Promise<RawAnswer>;
  end(): void;
}

export async function rawConnection(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => {});
  const answers: RawAnswer[] = [];
  const waiting: Array<() => void> = [];
  const reader = new FrameReader(
    {
      frame(payload) {
        const [callId, status, body] = unpackEnvelope(payload) as [number, number, Record<string, unknown>];
        answers.push({ callId, status, body });
        for (const wake of waiting.splice(0)) wake();
      },
      largeFrame: () => "read",
      tooLarge: () => socket.destroy(),
    },
    0xffff_ffff,
  );
  socket.on("data", (chunk: Buffer) => reader.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return {
    socket,
    answers,
    closed,
    write: (bytes) => void socket.write(bytes),
    hello: (token) => void socket.write(wholeFrame(packEnvelope({ larder: WIRE_VERSION, token }))),
    call(callId, path, envelope) {
      const body = packEnvelope(envelope);
      socket.write(Buffer.concat([callHead(callId, path, body.length), body]));
    },
    async answer(callId) {
      for (;;) {
        const found = answers.find((a) => a.callId === callId);
        if (found !== undefined) return found;
        if (socket.destroyed) throw new Error(`the connection closed before an answer to call ${callId}`);
        await Promise.race([new Promise<void>((resolve) => waiting.push(resolve)), closed]);
      }
    },
    end: () => socket.end(),
  };
}
