// Injected into the console's bundle (ui/build.mjs): the `Buffer` that proto/ uses.
export { Buffer } from "buffer";
