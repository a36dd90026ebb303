// The power-loss harness tests itself: after a cut, what was fsync'd is there, what was not
// is gone, and a name (new or renamed) is durable only once its folder was fsync'd.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LazyFs } from "./lazyfs/lazyfs.ts";

let fs: LazyFs | undefined;
let skipReason = "";

beforeAll(async () => {
  const started = await LazyFs.start();
  if (typeof started === "string") {
    skipReason = started;
    console.warn(`SKIPPED test/durability/lazyfs: ${started}`);
  } else fs = started;
});
afterAll(async () => fs?.stop());

function writeFile(path: string, text: string, sync: boolean): void {
  const fd = openSync(path, "w");
  writeSync(fd, text);
  if (sync) fsyncSync(fd);
  closeSync(fd);
}

function appendFile(path: string, text: string): void {
  const fd = openSync(path, "a");
  writeSync(fd, text);
  closeSync(fd);
}

function syncFolder(path: string): void {
  const fd = openSync(path, "r");
  fsyncSync(fd);
  closeSync(fd);
}

describe("lazyfs: a page cache that a power cut drops", () => {
  it("keeps synced bytes and names, loses unsynced bytes, unsynced names and an un-fsynced rename", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    const dir = join(fs.mount, "self");
    mkdirSync(dir);
    syncFolder(fs.mount);
    writeFile(join(dir, "synced"), "kept", true);
    writeFile(join(dir, "renamed"), "moved", true);
    writeFile(join(dir, "doomed"), "x", true);
    syncFolder(dir);
    appendFile(join(dir, "synced"), " and lost"); // bytes never fsync'd
    writeFile(join(dir, "unsynced"), "never fsync'd", false); // bytes and name never durable
    writeFile(join(dir, "nameless"), "fsync'd, folder not", true); // bytes durable, name not
    renameSync(join(dir, "renamed"), join(dir, "moved")); // rename, folder not fsync'd
    unlinkSync(join(dir, "doomed")); // unlink, folder not fsync'd
    expect(readFileSync(join(dir, "synced"), "utf8")).toBe("kept and lost");
    expect(readdirSync(dir).sort()).toEqual(["moved", "nameless", "synced", "unsynced"]);

    const report = await fs.cut();
    expect(report.dirtyBytes).toBeGreaterThan(0);
    expect(report.undurableFolders).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(["doomed", "renamed", "synced"]);
    expect(readFileSync(join(dir, "synced"), "utf8")).toBe("kept");
    expect(readFileSync(join(dir, "renamed"), "utf8")).toBe("moved");
    expect(existsSync(join(dir, "moved"))).toBe(false);
  });

  it("makes a rename durable once the folder is fsync'd, and the name's bytes only as far as synced", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    const dir = join(fs.mount, "renames");
    mkdirSync(dir);
    syncFolder(fs.mount);
    writeFile(join(dir, "a.tmp"), "whole", true);
    renameSync(join(dir, "a.tmp"), join(dir, "a"));
    writeFile(join(dir, "b"), "unsynced bytes", false);
    syncFolder(dir);
    const stats = await fs.stats();
    expect(stats.folderSyncs).toBeGreaterThanOrEqual(2);
    await fs.cut();
    expect(readdirSync(dir).sort()).toEqual(["a", "b"]);
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("whole");
    expect(readFileSync(join(dir, "b"), "utf8"), "a durable name whose bytes were never synced is empty").toBe("");
  });

  it("loses a whole folder whose name was never made durable", async (ctx) => {
    if (!fs) return ctx.skip(skipReason);
    const dir = join(fs.mount, "unnamed");
    mkdirSync(dir);
    writeFile(join(dir, "f"), "synced inside", true);
    syncFolder(dir);
    await fs.cut();
    expect(existsSync(dir)).toBe(false);
  });
});
