// Real PostgreSQL servers for tests: a primary (and, on request, a synchronous standby made
// with pg_basebackup) on free loopback ports, in a temporary folder, run as the unprivileged
// user `nobody` because initdb refuses root. Each server is a child process of the test, so
// a test can SIGKILL it; `stop()` ends every server and removes the folder.
//
// Where the binaries are missing the helpers say so through `postgresMissing()`, and the
// test files skip with that message (CI installs `postgresql`, see .ci/run).

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, chmod, chown, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

const BIN_CANDIDATES = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"];
const BIN = BIN_CANDIDATES.find((dir) => existsSync(join(dir, "initdb")));
const RUN_AS = "nobody";
const START_WAIT_MS = 20_000;

/** Why PostgreSQL cannot run here, or undefined when it can. */
export function postgresMissing(): string | undefined {
  if (BIN === undefined) return `PostgreSQL binaries not found in ${BIN_CANDIDATES.join(", ")} (apt-get install postgresql)`;
  if (process.getuid?.() === 0) {
    if (spawnSync("id", ["-u", RUN_AS]).status !== 0) return `user '${RUN_AS}' is missing: initdb refuses root and needs another user`;
  }
  return undefined;
}

export interface PgServer {
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** SIGKILL: the power cut of the server process. */
  kill(): Promise<void>;
  /** Fast shutdown (SIGINT). */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Adds a synchronous standby (pg_basebackup + synchronous_standby_names). */
  standby?: boolean;
  /**
   * fsync=off: for tests that check semantics, not survival of power loss, on a machine
   * shared by many test runs. Crash tests leave it on.
   */
  noFsync?: boolean;
}

export interface PgCluster {
  readonly primary: PgServer;
  readonly standby: PgServer | undefined;
  /** The primary's connection string. */
  readonly url: string;
  /** Promotes the standby to primary (after the primary's loss). */
  promote(): Promise<void>;
  /** A new, empty database on the primary; returns its connection string. */
  createDatabase(name?: string): Promise<string>;
  /** Stops every server and removes the folder. */
  stop(): Promise<void>;
}

let databaseCount = 0;

/** The uid and gid to run as: nobody's when this process is root, else none (ourselves). */
function identity(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const [uid, gid] = ["-u", "-g"].map((flag) => Number(spawnSync("id", [flag, RUN_AS], { encoding: "utf8" }).stdout.trim()));
  return { uid: uid!, gid: gid! };
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // Spawned directly under nobody's uid (not through runuser): signals reach the server itself.
    const child = spawn(join(BIN!, command), args, { stdio: ["ignore", "pipe", "pipe"], ...identity() });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${output}`))));
  });
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + START_WAIT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited at start: ${log()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within ${START_WAIT_MS} ms: ${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

async function startServerAt(root: string, dataDir: string, settings: string[]): Promise<PgServer> {
  const port = await freePort();
  const child = spawn(join(BIN!, "postgres"), [
    "-D", dataDir,
    "-p", String(port),
    "-k", root,
    "-c", "listen_addresses=127.0.0.1",
    "-c", "max_connections=200",
    "-c", "shared_buffers=32MB",
    ...settings.flatMap((s) => ["-c", s]),
  ], { stdio: ["ignore", "ignore", "pipe"], ...identity() });
  children.add(child);
  let log = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    log = (log + chunk).slice(-8_000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => {
    children.delete(child);
    resolve();
  }));
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  try {
    await waitReady(url, child, () => log);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  const ended = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    port,
    dataDir,
    url,
    child,
    exited,
    async kill() {
      if (!ended()) child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (!ended()) child.kill("SIGINT");
      await exited;
    },
  };
}

/** Starts a primary (and a synchronous standby when asked) in a new temporary folder. */
export async function startPostgres(options: ClusterOptions = {}): Promise<PgCluster> {
  const missing = postgresMissing();
  if (missing !== undefined) throw new Error(missing);
  const root = await mkdtemp(join(tmpdir(), "larder-pg-"));
  const { uid, gid } = identity();
  if (uid !== undefined) await chown(root, uid, gid!);
  await chmod(root, 0o700);
  const servers: PgServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
    await rm(root, { recursive: true, force: true });
  };
  try {
    const primaryDir = join(root, "primary");
    await run("initdb", ["-D", primaryDir, "-U", "postgres", "-A", "trust", "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C"]);
    const common = options.noFsync ? ["fsync=off", "full_page_writes=off"] : [];
    const primary = await startServerAt(root, primaryDir, [...common, ...(options.standby ? ["synchronous_standby_names=standby1", "synchronous_commit=on"] : [])]);
    servers.push(primary);
    let standby: PgServer | undefined;
    if (options.standby) {
      const standbyDir = join(root, "standby");
      await run("pg_basebackup", ["-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", standbyDir, "-X", "stream", "-R", "--no-sync"]);
      // pg_basebackup -R wrote standby.signal and a primary_conninfo; name the standby so
      // that synchronous_standby_names on the primary picks it.
      await appendFile(join(standbyDir, "postgresql.auto.conf"), `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres application_name=standby1'\n`);
      standby = await startServerAt(root, standbyDir, [...common, "hot_standby=on"]);
      servers.push(standby);
      await waitSynchronous(primary.url);
    }
    return {
      primary,
      standby,
      url: primary.url,
      async promote() {
        if (!standby) throw new Error("no standby to promote");
        await run("pg_ctl", ["promote", "-w", "-D", standby.dataDir]);
      },
      async createDatabase(name = `larder_${process.pid}_${++databaseCount}`) {
        const client = new pg.Client({ connectionString: primary.url });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        return primary.url.replace(/\/postgres$/, `/${name}`);
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

/** Waits until the primary reports its standby as synchronous. */
async function waitSynchronous(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const deadline = Date.now() + START_WAIT_MS;
    for (;;) {
      const { rows } = await client.query<{ sync_state: string }>("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'");
      if (rows[0]?.sync_state === "sync") return;
      if (Date.now() > deadline) throw new Error(`the standby did not become synchronous within ${START_WAIT_MS} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await client.end();
  }
}
