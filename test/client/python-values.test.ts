// Values across languages (docs/format.md, "Values across languages: Python"), against a real
// server on a real port: the Python client (client/python) writes each Python type and this
// TypeScript client reads what the table says; this client writes each TypeScript type and
// the Python client reads what the table says, then writes it back, and what comes back is
// the original except where the table says it changes. Through a dict and a queue each.
// The Python half is test/support/python_values.py, run by Debian's /usr/bin/python3 (which
// sees python3-msgpack); skipped, with a message, only where Python itself is missing.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import type { Store } from "../../proto/api.ts";
import { startServer } from "../../server/index.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PYTHON = process.env["LARDER_PYTHON"] ?? "/usr/bin/python3";
const hasPython = existsSync(PYTHON);
if (!hasPython) console.warn(`test/client/python-values: skipped: ${PYTHON} is missing (set LARDER_PYTHON to another Python 3)`);
const TOKEN = "cross-language";
const WHEN = new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789));

/** What TypeScript reads of each value of python_values.py's PYTHON_WRITES. */
const FROM_PYTHON: Array<[string, unknown]> = [
  ["none", null],
  ["true", true],
  ["false", false],
  ["int", 42],
  ["negative int", -7],
  ["largest safe int", Number.MAX_SAFE_INTEGER],
  ["int 2^53", 2n ** 53n],
  ["int beyond 64 bits", 2n ** 64n + 1n],
  ["negative int beyond 64 bits", -(2n ** 70n)],
  ["BigInt(5)", 5n],
  ["float", 1.5],
  ["integral float", 2],
  ["minus zero", -0],
  ["nan", NaN],
  ["inf", Infinity],
  ["-inf", -Infinity],
  ["str", "héllo wörld 😀 \u0000 end"],
  ["empty str", ""],
  ["bytes", new Uint8Array([0, 1, 0xfe, 0xff])],
  ["bytearray", new Uint8Array([0x61, 0x62])],
  ["list", [1, "two", null, [3.5]]],
  ["tuple", [1, 2]],
  ["dict with str keys", { a: 1, b: [true], "with space": null }],
  ["empty dict", {}],
  ["dict with other keys", new Map<unknown, unknown>([[1, "one"], ["1", "string one"], [[1, 2], "tuple"], [new Uint8Array([0x6b]), "bytes"]])],
  ["set", new Set([1, "a", 3.5])],
  ["frozenset", new Set([2])],
  ["aware datetime", WHEN],
  ["naive datetime", WHEN],
  ["datetime with microseconds", new Date(Date.UTC(2024, 0, 1, 0, 0, 0, 123))],
  ["old datetime", new Date(-1e12)],
  ["int16 array", new Int16Array([1, -2])],
  ["float64 array", new Float64Array([0.5, -1])],
  ["regexp", /a+b/gi],
  ["nested", { list: [{ x: new Set([1, 2]) }], when: WHEN, big: 2n ** 80n, map: new Map([[3, [new Uint8Array([9])]]]) }],
];

/** What TypeScript writes (python_values.py's FROM_TS says what Python reads), and what comes back after Python writes it again. */
const TS_WRITES: Array<[string, unknown, unknown?]> = [
  ["null", null],
  ["true", true],
  ["number", 42],
  ["negative number", -7],
  ["fraction", -1.25],
  ["largest safe integer", Number.MAX_SAFE_INTEGER],
  ["2^60 as a number", 2 ** 60],
  ["minus zero", -0],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["small bigint", 5n],
  ["bigint beyond 64 bits", 2n ** 100n + 1n],
  ["negative bigint", -(2n ** 70n)],
  ["string", "héllo wörld 😀 \u0000 end"],
  ["Uint8Array", new Uint8Array([0, 1, 0xfe, 0xff])],
  ["Buffer", Buffer.from([5, 6]), new Uint8Array([5, 6])],
  ["ArrayBuffer", new Uint8Array([7]).buffer, new Uint8Array([7])],
  ["Int16Array", new Int16Array([1, -2])],
  ["Float64Array", new Float64Array([0.5, Infinity])],
  ["array", [1, "two", null, [3.5]]],
  ["undefined in an array", [undefined, 1], [null, 1]],
  ["plain object", { a: 1, b: [true], "with space": null }],
  ["Map with other keys", new Map<unknown, unknown>([[1, "one"], ["1", "string one"], [[1, 2], "array key"]])],
  ["Map with string keys", new Map([["k", "v"]]), { k: "v" }],
  ["Set", new Set([1, "a"])],
  ["Date", WHEN],
  ["old Date", new Date(-1e12)],
  ["RegExp", /a+b/gi],
  ["nested", { list: [{ x: new Set([1, 2]) }], when: WHEN, big: 2n ** 80n, map: new Map([[3, [new Uint8Array([9])]]]) }],
];

function python(mode: string, url: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [join(ROOT, "test", "support", "python_values.py"), mode], {
      cwd: ROOT,
      env: { ...process.env, LARDER_URL: url, LARDER_TOKEN: TOKEN, PYTHONDONTWRITEBYTECODE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe.skipIf(!hasPython)("values across languages, Python and TypeScript, through a real server", () => {
  const dir = mkdtempSync(join(tmpdir(), "larder-cross-"));
  let server: Awaited<ReturnType<typeof startServer>>;
  let store: Store;

  beforeAll(async () => {
    server = await startServer({ path: dir, port: 0, token: TOKEN });
    store = await connect(server.url, { token: TOKEN });
  });
  afterAll(async () => {
    await store?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("Python writes, TypeScript reads each value as the table says", { timeout: 60_000 }, async () => {
    const { code, output } = await python("write", server.url);
    expect(code, output).toBe(0);
    const d = await store.dicts.fromName("from-python");
    for (const [label, expected] of FROM_PYTHON) expect(await d.get(label), label).toStrictEqual(expected);
    expect(await d.len()).toBe(FROM_PYTHON.length);
    expect(Object.is(await d.get("minus zero"), -0)).toBe(true);
    const q = await store.queues.fromName("from-python");
    expect(await q.getMany(FROM_PYTHON.length + 1, { timeoutMs: 0 })).toStrictEqual(FROM_PYTHON.map(([, v]) => v));
  });

  it("TypeScript writes, Python reads each value as the table says, and what Python writes back is the original or what the table says", { timeout: 60_000 }, async () => {
    const d = await store.dicts.fromName("from-ts", { createIfMissing: true });
    const q = await store.queues.fromName("from-ts", { createIfMissing: true });
    for (const [label, value] of TS_WRITES) await d.put(label, value);
    await q.putMany(TS_WRITES.map(([, v]) => v));
    const { code, output } = await python("check", server.url);
    expect(code, output).toBe(0);
    const report = JSON.parse(output.trim().split("\n").at(-1)!) as { checked: number; wrong: string[] };
    expect(report.wrong).toEqual([]);
    expect(report.checked).toBe(TS_WRITES.length);
    const back = new Map(await collect((await store.dicts.fromName("ts-back")).items()));
    for (const [label, value, changed] of TS_WRITES) expect(back.get(label), label).toStrictEqual(changed === undefined ? value : changed);
    expect(Object.is(back.get("minus zero"), -0)).toBe(true);
  });
});
