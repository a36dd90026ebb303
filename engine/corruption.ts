// A row of the store that does not parse, or that breaks what every row must hold: the
// folder was damaged (a bad disk, a copy taken while it was written, another program's
// writes). The engine refuses to guess: the call fails INTERNAL, and the message says
// what was found and where, for the operator; the server logs it and answers an opaque
// INTERNAL, as for every internal error.

import { InternalError } from "../proto/errors.ts";

export class CorruptionError extends InternalError {
  constructor(found: string, where: string) {
    super(`corrupt store: ${found} (${where})`);
    this.name = "CorruptionError";
  }
}

/** Where a row is, for a CorruptionError: its key in hex. */
export function atKey(key: Uint8Array | undefined): string {
  return key === undefined ? "key unknown" : `key 0x${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("hex")}`;
}
