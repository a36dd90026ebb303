// `larder serve` runs node with SERVE_NODE_FLAGS (server/options.ts): through the bin's
// shebang when the command is run directly, and through `npm start`. These checks keep the
// three in step, and run the shebang line as the kernel would (`/usr/bin/env -S ...`).

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { SERVE_NODE_FLAGS } from "../../server/options.ts";

const run = promisify(execFile);

function shebang(file: string): string[] {
  const first = readFileSync(new URL(file, import.meta.url), "utf8").split("\n", 1)[0]!;
  expect(first.startsWith("#!")).toBe(true);
  return first.slice(2).trim().split(/\s+/);
}

describe("the node flags of larder serve", () => {
  it("the bin's shebang and npm start pass every flag of SERVE_NODE_FLAGS", () => {
    expect(SERVE_NODE_FLAGS.length).toBeGreaterThan(0);
    const line = shebang("../../bin/larder.ts");
    expect(line.slice(0, 3)).toEqual(["/usr/bin/env", "-S", "node"]);
    expect(line.slice(3)).toEqual([...SERVE_NODE_FLAGS]);
    const start = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { scripts: { start: string } }).scripts.start;
    expect(start.split(/\s+/).slice(0, 1 + SERVE_NODE_FLAGS.length)).toEqual(["node", ...SERVE_NODE_FLAGS]);
  });

  it("node accepts the flags: the shebang line runs the bin", async () => {
    const line = shebang("../../bin/larder.ts");
    // env -S splits the rest of the line; run node with those flags on the TypeScript entry through tsx.
    const [, , node, ...flags] = line;
    expect(node).toBe("node");
    const entry = new URL("../../bin/larder.ts", import.meta.url).pathname;
    const { stdout } = await run(process.execPath, [...flags, "--import", "tsx", entry, "--help"]);
    expect(stdout).toMatch(/^Usage: larder COMMAND/);
  });
});
