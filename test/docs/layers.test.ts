// The dependencies between folders point one way (README.md, "Layout"): proto/ is the
// contract and imports nothing else; engine/ and store/ import proto/ alone; client/ adds
// store/; server/ adds engine/ and postgres/ (which imports proto/ alone); the package's root composes them. A folder reaches another
// (other than proto/) only through its door, index.ts; bin/ and examples/ use doors alone.
// Read from the source text, so a wrong import fails here before it is ever loaded.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Which folders each folder may import from ("." is the package's root index.ts). */
const ALLOWED: Record<string, readonly string[]> = {
  proto: [],
  engine: ["proto"],
  store: ["proto"],
  client: ["proto", "store"],
  server: ["proto", "engine", "postgres"],
  // The PostgreSQL backend: the contract and the pg client, nothing of the embedded engine.
  postgres: ["proto"],
  ".": ["proto", "engine", "store", "client", "server", "postgres"],
  bin: ["proto", "store", "client", "server", "."],
  examples: ["proto", "client", "server", "."],
  // The web console, bundled for the browser: the protocol's codecs and nothing that runs on a server.
  ui: ["proto"],
};

/** Folders whose imports of other folders must all go through doors (index.ts). */
const DOORS_ONLY = new Set(["bin", "examples"]);

function sourceFiles(folder: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

function filesOf(layer: string): string[] {
  return layer === "." ? [join(ROOT, "index.ts")] : sourceFiles(join(ROOT, layer));
}

/** The relative module specifiers a file imports or re-exports, statically or by import(). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs: string[] = [];
  for (const match of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)["'](\.{1,2}\/[^"']+)["']/gm)) specs.push(match[1]!);
  return specs;
}

/** The top folder of a path inside the repository ("." for a file at the root). */
function layerOf(path: string): string {
  const rel = relative(ROOT, path);
  return rel.includes(sep) ? rel.split(sep)[0]! : ".";
}

interface Edge {
  readonly from: string;
  readonly to: string;
}

function crossings(layer: string): Edge[] {
  const edges: Edge[] = [];
  for (const file of filesOf(layer)) {
    for (const spec of importsOf(file)) {
      const target = resolve(dirname(file), spec);
      if (layerOf(target) !== layer) edges.push({ from: relative(ROOT, file), to: relative(ROOT, target) });
    }
  }
  return edges;
}

function isDoor(path: string): boolean {
  return path === "index.ts" || /^[a-z]+\/index\.ts$/.test(path);
}

describe("layers", () => {
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer === "." ? "the root index.ts" : `${layer}/`} imports only from ${allowed.length === 0 ? "itself" : allowed.join(", ")}`, () => {
      const edges = crossings(layer);
      const wrongFolder = edges.filter((e) => !allowed.includes(layerOf(join(ROOT, e.to))));
      expect(wrongFolder).toEqual([]);
      // proto/ is the contract every layer shares file by file; any other folder is
      // entered through its door, and bin/ and examples/ enter proto/ by its door too.
      const pastDoor = edges.filter((e) => !isDoor(e.to) && (DOORS_ONLY.has(layer) || layerOf(join(ROOT, e.to)) !== "proto"));
      expect(pastDoor).toEqual([]);
    });
  }

  it("the checker sees an import past a door", () => {
    // server/ imports the engine; if the parser missed imports, the test above would pass
    // for nothing.
    expect(crossings("server").some((e) => e.to === "engine/index.ts")).toBe(true);
    expect(crossings("bin").some((e) => e.to === "server/index.ts")).toBe(true);
  });
});
