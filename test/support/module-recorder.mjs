// Preloaded with `node --import tsx --import ./module-recorder.mjs`: records every module a
// process loads, ESM (through a resolve hook) and CommonJS (require.cache), so a test can
// assert what an entry point pulls in. `globalThis.loadedModules()` returns the file URLs.

import { createRequire, register } from "node:module";
import { MessageChannel } from "node:worker_threads";
import { pathToFileURL } from "node:url";

const { port1, port2 } = new MessageChannel();
const resolved = new Set();
port1.on("message", (url) => resolved.add(url));
port1.unref();
register("./module-recorder-hooks.mjs", import.meta.url, { data: { port: port2 }, transferList: [port2] });

const require = createRequire(import.meta.url);

globalThis.loadedModules = async () => {
  // Let messages the hook thread posted during the imports arrive.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const cjs = Object.keys(require.cache).map((file) => pathToFileURL(file).href);
  return [...new Set([...resolved, ...cjs])];
};
