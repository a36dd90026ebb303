// Redis 7 as a comparator, started by the bench itself: `redis-server` from PATH on a free
// loopback port, in a temp folder, in one of two modes:
//   always : --appendonly yes --appendfsync always   (every write fsynced before the reply,
//            Redis' equivalent of Larder's fsync durability)
//   none   : --save "" --appendonly no               (no persistence at all)
// RDB snapshots are off in both (`--save ""`), so no background save runs mid-scenario.
// When redis-server is not installed the Redis rows are skipped with one clear line.
//
// Through ioredis: queue = LPUSH / RPOP (RPOP key count for batches), dict = HSET / HGET
// (one HSET of many fields, HMGET for batches). One connection, as ioredis is used.

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { Redis } from "ioredis";
import { onCleanup, tempDir } from "./cleanup.ts";
import { freePort } from "./ports.ts";
import type { Primitives, Shape, System } from "./workload.ts";

export type RedisMode = "always" | "none";

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const START_ATTEMPTS = 3;
const LOG_LINES_KEPT = 20;

/** The redis-server executable on PATH, or undefined. */
export function findRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "redis-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

export const REDIS_MISSING_NOTE =
  "redis: skipped, redis-server is not on PATH (install it with `apt-get install redis-server` to add the Redis rows)";

function modeArgs(mode: RedisMode): string[] {
  return mode === "always"
    ? ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
    : ["--save", "", "--appendonly", "no"];
}

export class RedisServer {
  private constructor(
    readonly mode: RedisMode,
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly undo: () => void,
    private readonly removeDir: () => void,
  ) {}

  /** Starts redis-server; retries on a new port if another process took the free one. */
  static async start(executable: string, mode: RedisMode): Promise<RedisServer> {
    let lastError: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      try {
        return await RedisServer.startOnce(executable, mode);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  private static async startOnce(executable: string, mode: RedisMode): Promise<RedisServer> {
    const dir = tempDir(`redis-${mode}`);
    const port = await freePort();
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir.path, "--daemonize", "no",
      "--logfile", "", "--protected-mode", "yes", ...modeArgs(mode)];
    const child = spawn(executable, args, { stdio: ["ignore", "pipe", "pipe"] });
    const undo = onCleanup(() => child.kill("SIGKILL"));
    try {
      await waitReady(child);
    } catch (error) {
      undo();
      dir.remove();
      throw error;
    }
    return new RedisServer(mode, port, child, undo, dir.remove);
  }

  /** The redis-server process (bench/wire-cpu.ts reads its CPU time). */
  get pid(): number {
    return this.child.pid!;
  }

  client(): Redis {
    return new Redis({ host: "127.0.0.1", port: this.port, maxRetriesPerRequest: 0, lazyConnect: false });
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once("exit", () => resolve());
    });
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    this.undo();
    this.removeDir();
  }
}

/** Resolves when the server logs that it accepts connections; rejects with its log if it exits. */
function waitReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const log: string[] = [];
    const timer = setTimeout(() => fail(new Error(`redis-server was not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") log.push(line);
      log.splice(0, Math.max(0, log.length - LOG_LINES_KEPT));
      if (/Ready to accept connections/.test(chunk.toString("utf8"))) {
        clearTimeout(timer);
        resolve();
      }
    };
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(new Error(`${error.message}\n${log.join("\n")}`));
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => fail(new Error(`redis-server exited (${code ?? signal}) before it was ready`)));
    child.once("error", fail);
  });
}

export class RedisSystem implements System {
  readonly family = "redis" as const;
  readonly transport = "tcp" as const;
  readonly name: string;
  readonly durability: "fsync" | "none";
  private shapes = 0;

  private constructor(readonly server: RedisServer, private readonly redis: Redis) {
    this.name = `redis-${server.mode}`;
    this.durability = server.mode === "always" ? "fsync" : "none";
  }

  static async start(executable: string, mode: RedisMode): Promise<RedisSystem> {
    const server = await RedisServer.start(executable, mode);
    const redis = server.client();
    await redis.ping();
    return new RedisSystem(server, redis);
  }

  async primitives(_shape: Shape): Promise<Primitives> {
    const redis = this.redis;
    const id = this.shapes++;
    const list = `q${id}`;
    const hash = `d${id}`;
    return {
      async queuePut(values) {
        await redis.lpush(list, ...(values as Buffer[]));
      },
      async queueGet(n) {
        if (n === 1) return (await redis.rpopBuffer(list)) === null ? 0 : 1;
        return (await redis.rpopBuffer(list, n))?.length ?? 0;
      },
      async dictPut(entries) {
        const args: Array<string | Buffer> = [];
        for (const [key, value] of entries) args.push(key, value as Buffer);
        await redis.hset(hash, ...args);
      },
      async dictGet(keys) {
        if (keys.length === 1) return (await redis.hgetBuffer(hash, keys[0]!)) === null ? 0 : 1;
        return (await redis.hmgetBuffer(hash, ...keys)).filter((v) => v !== null).length;
      },
      async dispose() {
        await redis.del(list, hash);
      },
    };
  }

  async close(): Promise<void> {
    await this.redis.quit();
    await this.server.stop();
  }
}
