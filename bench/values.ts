// `npm run bench:values [-- --quick] [--rounds=N]`: the value codec of format 3 (proto/values.ts,
// standard MessagePack) beside the codec of format 2 (msgpackr records, bench/lib/values-v2.ts),
// in the same process and the same run: encode and decode of each value, ns per call.
// Rounds alternate A and B so that a slower moment of a shared machine hits both; the
// table shows the median round of each and the ratio B/A (below 1.00: format 3 is faster).

import { performance } from "node:perf_hooks";
import { parseArgs } from "./lib/args.ts";
import { printTable } from "./lib/table.ts";
import * as v2 from "./lib/values-v2.ts";
import * as v3 from "../proto/values.ts";

const args = parseArgs();
const rounds = args.rounds ?? (args.quick ? 5 : 15);
const sliceMs = args.durationMs ?? (args.quick ? 20 : 100);

const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 0xff));
const job = (i: number) => ({ url: `https://example.com/page/${i}`, depth: i % 5, at: new Date(1_700_000_000_000 + i) });

const VALUES: Array<[string, unknown]> = [
  ["100-byte Buffer (the engine bench's value)", bytes(100)],
  ["100-byte Uint8Array", new Uint8Array(bytes(100))],
  ["64 KiB Buffer", bytes(65_536)],
  ["short string", "hello world"],
  ["1 KiB string", "lorem ipsum ".repeat(85)],
  ["integer", 123_456],
  ["crawler job {url, depth, at}", job(7)],
  ["object of 20 keys", Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field${i}`, i % 2 ? i : `v${i}`]))],
  ["array of 100 jobs (one shape)", Array.from({ length: 100 }, (_, i) => job(i))],
  ["array of 1,000 numbers", Array.from({ length: 1_000 }, (_, i) => i * 1.5)],
  ["Map of 50 entries", new Map(Array.from({ length: 50 }, (_, i) => [i, `v${i}`]))],
  ["nested document", { list: [new Map([["k", new Set([new Date(5), { inner: [-0, NaN, new Uint8Array([9])] }])]])], big: 2n ** 80n, tags: ["a", "b"] }],
];

type Codec = { encode: (v: unknown) => Uint8Array; decode: (b: Uint8Array) => unknown };
const A: Codec = { encode: v2.encodeValue, decode: v2.decodeValue };
const B: Codec = { encode: v3.encodeValue, decode: v3.decodeValue };

let sink = 0;
/** ns per call of `fn` over one slice. */
function slice(fn: () => unknown): number {
  let calls = 0;
  const end = performance.now() + sliceMs;
  const start = performance.now();
  let now = start;
  while (now < end) {
    for (let i = 0; i < 64; i++) {
      const out = fn();
      sink ^= (out as { length?: number })?.length ?? 1;
    }
    calls += 64;
    now = performance.now();
  }
  return ((now - start) * 1e6) / calls;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ns: number): string => (ns >= 10_000 ? ns.toFixed(0) : ns.toFixed(ns >= 100 ? 0 : 1));

const rows: string[][] = [];
for (const [label, value] of VALUES) {
  const encodedA = A.encode(value);
  const encodedB = B.encode(value);
  const results = { encA: [] as number[], encB: [] as number[], decA: [] as number[], decB: [] as number[] };
  // Warm-up, then alternate.
  slice(() => A.encode(value));
  slice(() => B.encode(value));
  slice(() => A.decode(encodedA));
  slice(() => B.decode(encodedB));
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    for (const codec of first ? ["A", "B"] : ["B", "A"]) {
      if (codec === "A") results.encA.push(slice(() => A.encode(value)));
      else results.encB.push(slice(() => B.encode(value)));
    }
    for (const codec of first ? ["A", "B"] : ["B", "A"]) {
      if (codec === "A") results.decA.push(slice(() => A.decode(encodedA)));
      else results.decB.push(slice(() => B.decode(encodedB)));
    }
  }
  const [ea, eb, da, db] = [median(results.encA), median(results.encB), median(results.decA), median(results.decB)];
  rows.push([label, String(encodedA.length), String(encodedB.length), fmt(ea), fmt(eb), (eb / ea).toFixed(2), fmt(da), fmt(db), (db / da).toFixed(2)]);
}

printTable(
  [
    { title: "value", align: "left" },
    { title: "v2 bytes" },
    { title: "v3 bytes" },
    { title: "enc v2 ns" },
    { title: "enc v3 ns" },
    { title: "enc v3/v2" },
    { title: "dec v2 ns" },
    { title: "dec v3 ns" },
    { title: "dec v3/v2" },
  ],
  rows,
);
process.stdout.write(`\n${rounds} alternating rounds of ${sliceMs} ms per codec and operation, median round; Node ${process.version}${sink === 0.5 ? "" : ""}\n`);
