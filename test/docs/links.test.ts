// Every relative link in the README and in docs/ points at a file of the repository (so
// it works on the repository's page and in the installed package), never outside it.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FILES = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

/** The targets of `[text](target)` outside code blocks. */
function links(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8").replace(/```[\s\S]*?```/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

describe("links in the README and docs/", () => {
  it.each(FILES)("%s: every relative link resolves to a file inside the repository", (file) => {
    for (const target of links(file)) {
      if (/^(https?:|mailto:|#)/.test(target)) continue;
      const path = resolve(dirname(join(ROOT, file)), decodeURIComponent(target.split("#")[0]!));
      const inside = relative(ROOT, path);
      expect(inside.startsWith("..") || inside === "", `${file}: ${target} leaves the repository`).toBe(false);
      expect(existsSync(path), `${file}: ${target} does not exist`).toBe(true);
    }
  });

  it("the README links nowhere outside the repository but to web addresses", () => {
    expect(links("README.md").filter((t) => t.startsWith("../") || t.startsWith("/"))).toEqual([]);
  });
});
