// The Python client's tests (client/python/tests) and the Python crawler's
// (examples/crawler-python), run by pytest under Debian's /usr/bin/python3, which sees the
// Debian packages python3-msgpack and python3-pytest (.ci/run installs them; the python3
// on PATH may be another interpreter that does not). Each pytest test starts real
// `larder serve` processes from this checkout on free ports. Skipped, with a message, only
// where Python itself is missing; a Python without msgpack or pytest fails, saying so.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PYTHON = process.env["LARDER_PYTHON"] ?? "/usr/bin/python3";
const hasPython = existsSync(PYTHON);
if (!hasPython) console.warn(`test/client/python: skipped: ${PYTHON} is missing (set LARDER_PYTHON to another Python 3)`);

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, {
      cwd: ROOT,
      env: { ...process.env, LARDER_NODE: process.execPath, PYTHONDONTWRITEBYTECODE: "1", LARDER_URL: "", LARDER_TOKEN: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

test.skipIf(!hasPython)("pytest: the Python client and the Python crawler against real servers", { timeout: 600_000 }, async () => {
  const modules = await run(["-c", "import msgpack, pytest"]);
  expect(modules.code, `${PYTHON} lacks msgpack or pytest (apt-get install python3-msgpack python3-pytest):\n${modules.output}`).toBe(0);
  const { code, output } = await run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "client/python/tests", "examples/crawler-python"]);
  // pytest's summary line, in the vitest output too.
  console.log(output.trim().split("\n").slice(-1)[0]);
  expect(code, output).toBe(0);
});
