// The framed transport's wire format (docs/protocol.md, "The framed transport"), shared by
// the server (server/wire-edge.ts) and the Node.js client (client/wire-transport.ts).
//
//   stream   = hello-frame *frame                      (each direction)
//   frame    = length:u32be payload                    (length = bytes of payload)
//   payload  = one MessagePack value:
//     client hello   {larder: 1, token?: str}          (the first frame a client sends)
//     call           [callId, path, envelope]          (callId: uint 1..2^32-1; path "/v1/dict/get")
//     cancel         [callId]                          (end the wait of call callId)
//     answer         [callId, status, body]            (status: the HTTP status of the answer)
//     connection     [0, status, body]                 (hello answer, go-away, or an error that closes)
//
// `envelope` is the route's request map exactly as an HTTP body; `body` is its answer map
// (status 200) or `{ code, message }`. Readers here only walk the small head of a payload
// (array header, call id, path, status): the envelope and the body are msgpackr's.

import { FIXSTR, STR8, packedStringBytes, writeString } from "./msgpack.ts";
import { numberSize, writeNumber } from "./wire.ts";

/** Bytes of a frame's length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** The largest call id (uint32); 0 is the connection's own. */
export const CALL_ID_MAX = 0xffff_ffff;
/** The hello's protocol version. */
export const WIRE_VERSION = 1;
/** The URL scheme that selects the framed transport: `larder://host:port`. */
export const WIRE_SCHEME = "larder:";

/** A payload that breaks the framing (not an array, a bad call id): the connection closes. */
export class FrameError extends Error {}

export interface FrameHead {
  /** Elements in the payload's array: 3 for a call or an answer, 1 for a cancel. */
  readonly count: number;
  readonly callId: number;
  /** Where the next element starts. */
  readonly next: number;
}

/** Reads `[callId, ...` at the start of a payload. */
export function readFrameHead(payload: Uint8Array): FrameHead {
  const tag = payload[0];
  if (tag === undefined || (tag & 0xf0) !== 0x90) throw new FrameError("a frame must hold a MessagePack array of 1 to 3 elements");
  const count = tag & 0x0f;
  if (count < 1 || count > 3) throw new FrameError(`a frame must hold an array of 1 to 3 elements, got ${count}`);
  const { value, next } = readUint(payload, 1, "the call id");
  return { count, callId: value, next };
}

/** Reads a MessagePack unsigned integer of at most 32 bits at `at`. */
export function readUint(bytes: Uint8Array, at: number, what: string): { value: number; next: number } {
  const tag = bytes[at];
  if (tag !== undefined && tag < 0x80) return { value: tag, next: at + 1 };
  const size = tag === 0xcc ? 1 : tag === 0xcd ? 2 : tag === 0xce ? 4 : 0;
  if (size === 0 || at + 1 + size > bytes.length) throw new FrameError(`${what} must be an unsigned integer of at most 32 bits`);
  let value = 0;
  for (let i = 1; i <= size; i++) value = value * 256 + bytes[at + i]!;
  return { value, next: at + 1 + size };
}

/** Reads a short MessagePack str (a path) at `at`, as latin1 (paths are ASCII; anything else finds no route). */
export function readShortString(bytes: Buffer, at: number, what: string): { value: string; next: number } {
  const tag = bytes[at];
  let length: number;
  let start: number;
  if (tag !== undefined && (tag & 0xe0) === FIXSTR) {
    length = tag & 0x1f;
    start = at + 1;
  } else if (tag === STR8 && at + 1 < bytes.length) {
    length = bytes[at + 1]!;
    start = at + 2;
  } else {
    throw new FrameError(`${what} must be a string of at most 255 bytes`);
  }
  if (start + length > bytes.length) throw new FrameError(`${what} ends past the frame`);
  return { value: bytes.toString("latin1", start, start + length), next: start + length };
}

/** The length prefix and head of a call frame, `[callId, path, ` + an envelope of `bodyBytes`. */
export function callHead(callId: number, path: string, bodyBytes: number): Buffer {
  const headBytes = 1 + numberSize(callId) + packedStringBytes(path.length);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + headBytes);
  out.writeUInt32BE(headBytes + bodyBytes, 0);
  out[4] = 0x93;
  writeString(out, writeNumber(out, 5, callId), path, path.length);
  return out;
}

/** The length prefix and head of an answer frame, `[callId, status, ` + a body of `bodyBytes`. */
export function answerHead(callId: number, status: number, bodyBytes: number): Buffer {
  const headBytes = 1 + numberSize(callId) + numberSize(status);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + headBytes);
  out.writeUInt32BE(headBytes + bodyBytes, 0);
  out[4] = 0x93;
  writeNumber(out, writeNumber(out, 5, callId), status);
  return out;
}

/** A whole cancel frame, `[callId]`. */
export function cancelFrame(callId: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 1 + numberSize(callId));
  out.writeUInt32BE(out.length - FRAME_HEADER_BYTES, 0);
  out[4] = 0x91;
  writeNumber(out, 5, callId);
  return out;
}

/** A whole frame around one packed MessagePack value (the hello). */
export function wholeFrame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  payload.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/** What a TurnWriter writes to: a socket. */
export interface Writable {
  write(bytes: Buffer): unknown;
  cork(): void;
  uncork(): void;
}

/** Pieces waiting for a write are joined into one buffer up to this size; past it they are written as they are. */
const JOINED_WRITE_BYTES_MAX = 256 * 1024;

/**
 * Frames made in one turn of the event loop, written together at its end (setImmediate
 * runs after the turn's I/O callbacks and their promise continuations): many answers, or
 * many calls, in one socket write. Small pieces are joined into one buffer; big ones (a
 * stored value) go to the socket as they are.
 */
export class TurnWriter {
  private out: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(
    private readonly socket: Writable,
    /** False once the socket is gone: what is queued is dropped. */
    private readonly open: () => boolean,
    /** Called after each write (the client marks its calls sent then). */
    private readonly written: () => void = () => {},
  ) {}

  /** Bytes queued for the end of this turn, not yet handed to the socket. */
  get queuedBytes(): number {
    return this.bytes;
  }

  write(...pieces: Buffer[]): void {
    for (const piece of pieces) {
      this.out.push(piece);
      this.bytes += piece.length;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Writes what is queued now (also called at the end of the turn). */
  readonly flush = (): void => {
    this.scheduled = false;
    const out = this.out;
    if (out.length === 0 || !this.open()) return;
    this.out = [];
    const bytes = this.bytes;
    this.bytes = 0;
    if (out.length === 1) this.socket.write(out[0]!);
    else if (bytes <= JOINED_WRITE_BYTES_MAX) this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (const piece of out) this.socket.write(piece);
      this.socket.uncork();
    }
    this.written();
  };
}

/** Frames over this many bytes are announced to `onLargeFrame` before they are buffered. */
export const LARGE_FRAME_BYTES = 64 * 1024;
/** How much of a large frame `onLargeFrame` sees: enough for its head (array, call id, path). */
const PEEK_BYTES = 300;

export type LargeFrameVerdict = "read" | "skip";

export interface FrameSink {
  /** One whole payload (a view into the received bytes). */
  frame(payload: Buffer): void;
  /** A frame of more than LARGE_FRAME_BYTES is starting: read it whole, or skip its bytes unread. */
  largeFrame(length: number, head: Buffer): LargeFrameVerdict;
  /** A length prefix over `frameBytesMax`: the stream cannot be trusted any further. */
  tooLarge(length: number): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Cuts a byte stream into frames. Small frames are handed over as views of the chunks they
 * arrived in; a large one is collected chunk by chunk and joined once, so a 100 MiB frame
 * costs one copy, not one per chunk; one the sink refuses is skipped as it streams past.
 */
export class FrameReader {
  /** Bytes received and not yet part of a frame handed over (less than one frame). */
  private rest: Buffer = EMPTY;
  /** A large frame being collected: its chunks (header included) and the bytes it needs. */
  private large: Buffer[] | undefined;
  private largeHave = 0;
  private largeNeed = 0;
  /** Bytes of a refused frame still to be skipped. */
  private skipping = 0;
  private stopped = false;

  constructor(
    private readonly sink: FrameSink,
    /** The longest frame taken; a reader may change it between frames (a server takes only a small hello first). */
    public frameBytesMax: number,
  ) {}

  /** Bytes of a frame not yet complete are held (or being skipped): more of that frame is due. */
  get midFrame(): boolean {
    return this.rest.length > 0 || this.large !== undefined || this.skipping > 0;
  }

  /** No more frames are handed over (the connection is closing). */
  stop(): void {
    this.stopped = true;
    this.rest = EMPTY;
    this.large = undefined;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    if (this.skipping > 0) {
      const skipped = Math.min(this.skipping, chunk.length);
      this.skipping -= skipped;
      if (skipped === chunk.length) return;
      chunk = chunk.subarray(skipped);
    }
    if (this.large !== undefined) {
      this.large.push(chunk);
      this.largeHave += chunk.length;
      if (this.largeHave < this.largeNeed) return;
      chunk = Buffer.concat(this.large, this.largeHave);
      this.large = undefined;
    } else if (this.rest.length > 0) {
      chunk = Buffer.concat([this.rest, chunk]);
    }
    this.rest = EMPTY;
    this.cut(chunk);
  }

  private cut(data: Buffer): void {
    let at = 0;
    while (!this.stopped && data.length - at >= FRAME_HEADER_BYTES) {
      const length = data.readUInt32BE(at);
      if (length > this.frameBytesMax) {
        this.stop();
        this.sink.tooLarge(length);
        return;
      }
      const available = data.length - at - FRAME_HEADER_BYTES;
      if (available >= length) {
        const start = at + FRAME_HEADER_BYTES;
        at = start + length;
        this.sink.frame(data.subarray(start, at));
        continue;
      }
      if (length <= LARGE_FRAME_BYTES) break;
      const peek = Math.min(length, PEEK_BYTES);
      if (available < peek) break;
      const verdict = this.sink.largeFrame(length, data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + peek));
      if (this.stopped) return;
      if (verdict === "skip") {
        this.skipping = length - available;
        return;
      }
      this.large = [data.subarray(at)];
      this.largeHave = data.length - at;
      this.largeNeed = FRAME_HEADER_BYTES + length;
      return;
    }
    if (!this.stopped && at < data.length) this.rest = data.subarray(at);
  }
}
