// `node:buffer` in the console's bundle (ui/build.mjs): what proto/ imports from it.
export { Buffer } from "buffer";

const strict = new TextDecoder("utf-8", { fatal: true });

/** Whether the bytes are valid UTF-8, as node:buffer's isUtf8. */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
