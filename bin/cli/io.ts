// What a command may touch of the outside world: two output streams, the input stream
// for confirmations, and the environment variables. main() gets the real process's;
// a test can pass its own.

import type { Readable } from "node:stream";

export interface Io {
  /** Writes to stdout; resolves once the text is handed to the OS, so exiting loses nothing. */
  out(text: string): Promise<void>;
  err(text: string): Promise<void>;
  /** Where a destructive command reads its confirmation. */
  readonly stdin: Readable;
  readonly env: Readonly<Record<string, string | undefined>>;
}

function writer(stream: NodeJS.WriteStream): (text: string) => Promise<void> {
  return (text) =>
    new Promise((resolve, reject) => {
      if (text.length === 0) return resolve();
      stream.write(text, (err) => (err ? reject(err) : resolve()));
    });
}

export function processIo(): Io {
  // A reader that stops early (`larder dict items d --all | head -1`) closes the pipe: the
  // failed write rejects (main() ends quietly), and this listener keeps the stream's
  // 'error' event from becoming an uncaught exception.
  process.stdout.on("error", () => {});
  return {
    out: writer(process.stdout),
    err: writer(process.stderr),
    stdin: process.stdin,
    env: process.env,
  };
}
