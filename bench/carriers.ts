// `npm run bench:carriers [-- --quick]`: the carriers the framed transport could have used
// (docs/protocol.md, "Why raw TCP with length-prefixed frames"), each as a bare echo of
// 100-byte messages with 64 concurrent callers, the server in its own process
// (lib/carrier-child.ts): raw TCP with Larder's frames and per-turn coalescing of writes,
// HTTP/1.1 with keep-alive (undici Pool of 64 connections, as Larder's client), and HTTP/2
// (one session, a stream per message). Per carrier: calls/s, and CPU per call on each side
// (process.cpuUsage here, /proc/PID/stat for the server), which is what a shared 2-core
// machine's noise moves least. Rounds alternate between carriers.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { loadavg } from "node:os";
import { connect as netConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { parseArgs } from "./lib/args.ts";
import { FrameReader } from "../proto/frames.ts";
import { printTable, type Row } from "./lib/table.ts";
import { formatRate } from "./lib/format.ts";

const CHILD = fileURLToPath(new URL("./lib/carrier-child.ts", import.meta.url));
const CALLERS = 64;
const MESSAGE_BYTES = 100;
const args = parseArgs();
const calls = args.quick ? 5_000 : 40_000;
const rounds = args.rounds ?? (args.quick ? 1 : 3);
type Carrier = "tcp" | "http1" | "http2";
const CARRIERS: Carrier[] = ["tcp", "http1", "http2"];

async function startChild(carrier: Carrier): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [...process.execArgv, CHILD, `--carrier=${carrier}`], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (c: Buffer) => resolve((JSON.parse(c.toString().split("\n")[0]!) as { port: number }).port));
    child.once("exit", () => reject(new Error(`${carrier} child exited`)));
  });
  return { child, port };
}

function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** A client whose `call` sends one message and resolves with its echo. */
async function client(carrier: Carrier, port: number): Promise<{ call(body: Buffer): Promise<unknown>; close(): void }> {
  if (carrier === "tcp") {
    const socket = netConnect({ port, host: "127.0.0.1", noDelay: true });
    await new Promise((resolve) => socket.once("connect", resolve));
    const waiting = new Map<number, () => void>();
    let next = 1;
    let out: Buffer[] = [];
    const flush = (): void => {
      const pieces = out;
      out = [];
      socket.write(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces));
    };
    const reader = new FrameReader(
      { frame: (payload) => { const id = payload.readUInt32BE(0); waiting.get(id)!(); waiting.delete(id); }, largeFrame: () => "read", tooLarge: () => {} },
      1 << 20,
    );
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
    return {
      call: (body) =>
        new Promise<void>((resolve) => {
          const id = next++;
          const frame = Buffer.allocUnsafe(8 + body.length);
          frame.writeUInt32BE(4 + body.length, 0);
          frame.writeUInt32BE(id, 4);
          body.copy(frame, 8);
          waiting.set(id, resolve);
          if (out.push(frame) === 1) setImmediate(flush);
        }),
      close: () => socket.destroy(),
    };
  }
  if (carrier === "http1") {
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CALLERS });
    return {
      call: async (body) => {
        const res = await pool.request({ path: "/", method: "POST", headers: { "content-type": "application/msgpack" }, body });
        return res.body.arrayBuffer();
      },
      close: () => void pool.destroy(),
    };
  }
  const session = http2Connect(`http://127.0.0.1:${port}`);
  await new Promise((resolve) => session.once("connect", resolve));
  return {
    call: (body) =>
      new Promise<void>((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": "/", "content-type": "application/msgpack" });
        stream.on("data", () => {});
        stream.on("end", () => resolve());
        stream.on("error", reject);
        stream.end(body);
      }),
    close: () => session.destroy(),
  };
}

interface Sample { callsPerSec: number; clientUs: number; serverUs: number }

async function measure(carrier: Carrier): Promise<Sample> {
  const { child, port } = await startChild(carrier);
  const c = await client(carrier, port);
  const body = Buffer.alloc(MESSAGE_BYTES, 7);
  const run = async (n: number): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: CALLERS }, async () => { while (next++ < n) await c.call(body); }));
  };
  await run(2_000); // warm-up
  const cpu0 = process.cpuUsage();
  const server0 = cpuMsOf(child.pid!);
  const t0 = performance.now();
  await run(calls);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const serverMs = cpuMsOf(child.pid!) - server0;
  c.close();
  child.kill();
  return { callsPerSec: (calls / ms) * 1000, clientUs: (cpu.user + cpu.system) / calls, serverUs: (serverMs * 1000) / calls };
}

const loadBefore = loadavg();
const samples = new Map<Carrier, Sample[]>(CARRIERS.map((c) => [c, []]));
for (let round = 0; round < rounds; round++) {
  for (const carrier of CARRIERS) {
    process.stderr.write(`round ${round + 1}/${rounds}: ${carrier}\n`);
    samples.get(carrier)!.push(await measure(carrier));
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const tcp = samples.get("tcp")!;
const rows: Row[] = CARRIERS.map((carrier) => {
  const s = samples.get(carrier)!;
  const perCall = median(s.map((x) => x.clientUs + x.serverUs));
  return [
    carrier,
    formatRate(median(s.map((x) => x.callsPerSec))),
    median(s.map((x) => x.clientUs)).toFixed(1),
    median(s.map((x) => x.serverUs)).toFixed(1),
    `${(perCall / median(tcp.map((x) => x.clientUs + x.serverUs))).toFixed(2)}x`,
  ];
});
process.stdout.write(`echo of ${MESSAGE_BYTES}-byte messages, ${CALLERS} callers, ${calls} calls, median of ${rounds} rounds; load average ${loadBefore.map((l) => l.toFixed(1)).join(" ")}\n`);
printTable(
  [{ title: "carrier", align: "left" }, { title: "calls/s" }, { title: "client us/call" }, { title: "server us/call" }, { title: "CPU vs tcp" }],
  rows,
);
