// `larder/client` must not load LevelDB: a fresh process imports client/index.ts and lists
// every module it loaded. The same check on engine/index.ts shows the detector works.

import { execFile } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RECORDER = fileURLToPath(new URL("../support/module-recorder.mjs", import.meta.url));
const LEVELDB = /\/node_modules\/(classic-level|level|memory-level|abstract-level)\//;

async function modulesLoadedBy(entry: string): Promise<string[]> {
  const target = pathToFileURL(`${ROOT}${entry}`).href;
  const script = `await import(${JSON.stringify(target)}); console.log(JSON.stringify(await globalThis.loadedModules()));`;
  const { stdout } = await run(process.execPath, ["--import", "tsx", "--import", RECORDER, "--input-type=module", "-e", script], {
    cwd: ROOT,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as string[];
}

describe("larder/client", () => {
  it("importing client/index.ts loads no LevelDB module", async () => {
    const loaded = await modulesLoadedBy("client/index.ts");
    expect(loaded.some((url) => url.endsWith("/client/remote.ts"))).toBe(true);
    expect(loaded.some((url) => url.includes("/node_modules/undici/"))).toBe(true);
    expect(loaded.filter((url) => LEVELDB.test(url))).toEqual([]);
    expect(loaded.filter((url) => /\/(engine|server)\/[^/]+\.ts$/.test(url))).toEqual([]);
  });

  it("the detector sees LevelDB when the engine is imported", async () => {
    const loaded = await modulesLoadedBy("engine/index.ts");
    expect(loaded.some((url) => url.includes("/node_modules/classic-level/"))).toBe(true);
  });
});
