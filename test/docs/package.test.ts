// The package as npm would install it: a name of its own (the npm name `larder` belongs to
// another package), the `larder` command, a license, where it lives, an install line in the
// README that names it, README imports that resolve under that name, and a tarball with
// the docs and without the tests.

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url);
const read = (file: string) => readFileSync(new URL(file, ROOT), "utf8");
const pkg = JSON.parse(read("package.json")) as {
  name: string;
  license: string;
  bin: Record<string, string>;
  repository?: { url?: string };
  homepage?: string;
  keywords?: string[];
  files: string[];
};
const run = promisify(execFile);

describe("the package", () => {
  it("is not named `larder` (taken on npm by a browser cache) and still installs the `larder` command", () => {
    expect(pkg.name).not.toBe("larder");
    expect(pkg.name).toMatch(/^larder-/);
    expect(Object.keys(pkg.bin)).toEqual(["larder"]);
  });

  it("has an MIT LICENSE file, a repository, a homepage and keywords", () => {
    expect(pkg.license).toBe("MIT");
    expect(read("LICENSE")).toMatch(/^MIT License\n/);
    expect(pkg.repository?.url).toMatch(/^git\+https:\/\//);
    expect(pkg.homepage).toMatch(/^https:\/\//);
    expect(pkg.keywords?.length).toBeGreaterThan(3);
  });

  it("the README has an install line for that name, and imports only that name", () => {
    const readme = read("README.md");
    expect(readme).toContain(`npm install ${pkg.name}`);
    const imports = [...readme.matchAll(/from "([^"./][^"]*)"/g)].map((m) => m[1]!);
    expect(imports.length).toBeGreaterThan(0);
    for (const name of imports) expect([pkg.name, `${pkg.name}/client`]).toContain(name);
  });

  it("the README's imports resolve under the package's own name (self-reference through exports)", async () => {
    const main = (await import(pkg.name)) as Record<string, unknown>;
    const client = (await import(`${pkg.name}/client`)) as Record<string, unknown>;
    for (const name of ["open", "connect", "startServer", "QueueEmptyError"]) expect(typeof main[name]).toBe("function");
    expect(typeof client["connect"]).toBe("function");
  });

  it("packs the built code, README, LICENSE and docs, and no tests", { timeout: 60_000 }, async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const file of ["LICENSE", "README.md", "package.json", "dist/bin/larder.js", "dist/index.js", "docs/errors.md"]) {
      expect(files).toContain(file);
    }
    expect(files.filter((f) => f.startsWith("test/") || f.includes(".test."))).toEqual([]);
  });
});
