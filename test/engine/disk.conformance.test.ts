// The conformance suite against the embedded engine on disk: each store in a fresh folder
// under the OS temp folder, removed after the test; `reopen` closes the store and opens the
// same folder again. A few checks only a folder on disk can make follow the suite.

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { OpenOptions, Store } from "../../proto/api.ts";
import { LockedError, NotFoundError } from "../../proto/errors.ts";
import { open } from "../../index.ts";
import { conformance } from "../conformance/index.ts";
import { expectError } from "../conformance/expect-error.ts";

const folderOf = new Map<Store, string>();
const folders = new Set<string>();

async function newFolder(): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), "larder-conformance-"));
  folders.add(path);
  return path;
}

async function openAt(path: string, options: OpenOptions = {}): Promise<Store> {
  const store = await open({ ...options, path });
  folderOf.set(store, path);
  return store;
}

async function cleanup(): Promise<void> {
  const stores = [...folderOf.keys()];
  folderOf.clear();
  await Promise.allSettled(stores.map((store) => store.close()));
  const paths = [...folders];
  folders.clear();
  await Promise.all(paths.map((path) => rm(path, { recursive: true, force: true })));
}

conformance({
  name: "embedded on disk",
  supports: { persistence: true },
  async make(options = {}) {
    return openAt(await newFolder(), options);
  },
  async reopen(store, options = {}) {
    const path = folderOf.get(store);
    if (path === undefined) throw new Error("reopen: this store was not made by the disk harness");
    await store.close();
    folderOf.delete(store);
    return openAt(path, options);
  },
  cleanup,
});

/** Runs `code` (an ES module body) in a new Node process that can import TypeScript. */
function runChild(code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.stderr.on("data", (chunk) => (err += chunk));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`))));
  });
}

describe("embedded on disk: the folder", () => {
  afterEach(cleanup);

  it("a second open of a folder that is open is LockedError, and the first store keeps working", async () => {
    const path = await newFolder();
    const store = await openAt(path);
    const d = await store.dicts.fromName("d", { createIfMissing: true });
    await d.put("k", 1);
    await expectError(openAt(path), LockedError);
    expect(await d.get("k")).toBe(1);
    await store.close();
    const again = await openAt(path);
    expect(await (await again.dicts.fromName("d")).get("k")).toBe(1);
  });

  it("durability 'buffered' keeps data across close and reopen", async () => {
    const path = await newFolder();
    const store = await openAt(path, { durability: "buffered" });
    await (await store.queues.fromName("q", { createIfMissing: true })).putMany([1, 2]);
    await store.close();
    const again = await openAt(path, { durability: "buffered" });
    expect(await (await again.queues.fromName("q")).getMany(5, { timeoutMs: 0 })).toEqual([1, 2]);
  });

  it("ephemeral objects left by a process that exited without closing are deleted at open", async () => {
    const path = await newFolder();
    const engine = new URL("../../index.ts", import.meta.url).href;
    const out = await runChild(`
      const { open } = await import(${JSON.stringify(engine)});
      const store = await open(${JSON.stringify(path)});
      const d = await store.dicts.ephemeral();
      await d.put("k", 1);
      const q = await store.queues.ephemeral();
      await q.put(1);
      await (await store.dicts.fromName("named", { createIfMissing: true })).put("k", 1);
      console.log(JSON.stringify({ dict: d.id, queue: q.id }));
      process.exit(0);
    `);
    const ids = JSON.parse(out.trim().split("\n").at(-1)!) as { dict: string; queue: string };
    const store = await openAt(path);
    await expectError(store.dicts.fromId(ids.dict), NotFoundError);
    await expectError(store.queues.fromId(ids.queue), NotFoundError);
    expect(await (await store.dicts.fromName("named")).get("k")).toBe(1);
  });
});
