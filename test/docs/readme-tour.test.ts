// The README's tour, run verbatim: the first TypeScript block under "## A short tour" is
// written to a temporary folder (where `larder-db` resolves to this repository) and run
// with tsx as a real process. It must exit by itself with status 0: everything it opens,
// the server and the remote store included, is closed by `await using`. It runs twice,
// since the second run finds its folders full from the first.

import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { startServer } from "../../server/index.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const run = promisify(execFile);

async function tourCode(): Promise<string> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("\n## A short tour\n"));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error("no ```ts block under '## A short tour' in README.md");
  return block[1]!;
}

describe("the README's tour", () => {
  it("runs verbatim, twice, and exits by itself with status 0", { timeout: 120_000 }, async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { name: string };
    const dir = await mkdtemp(join(tmpdir(), "larder-tour-"));
    try {
      await mkdir(join(dir, "node_modules"));
      await symlink(ROOT, join(dir, "node_modules", pkg.name));
      await symlink(join(ROOT, "node_modules", "tsx"), join(dir, "node_modules", "tsx"));
      // A user's ESM project, as the README says the package is.
      await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
      await writeFile(join(dir, "tour.ts"), await tourCode());
      for (let i = 0; i < 2; i++) {
        const { stdout } = await run(process.execPath, ["--import", "tsx", "tour.ts"], { cwd: dir, timeout: 60_000 });
        expect(stdout).toContain("home Home");
        expect(stdout).toContain("from anywhere");
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("LarderServer", () => {
  it("has Symbol.asyncDispose, which closes it", async () => {
    let url: string;
    {
      await using server = await startServer({ memory: true, port: 0 });
      url = server.url;
      expect((await fetch(`${url}/v1/health`)).ok).toBe(true);
    }
    await expect(fetch(`${url}/v1/health`)).rejects.toThrow();
  });
});
