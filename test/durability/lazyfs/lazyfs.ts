// Starts lazyfs.py (a FUSE filesystem that keeps unsynced writes and undurable names in
// memory) on a temp folder, and drives it: crash() drops what a power cut would drop,
// remount() mounts the durable state again with fresh kernel caches.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = new URL("./lazyfs.py", import.meta.url).pathname;
/** Debian's python, which sees python3-fusepy (pyenv's python3 on PATH does not). */
const PYTHON = "/usr/bin/python3";
const MOUNT_WAIT_MS = 15_000;

export interface CrashReport {
  /** Bytes written but never fsync'd, dropped. */
  dirtyBytes: number;
  /** Folders whose current names differed from their durable ones. */
  undurableFolders: number;
}

export interface SyncStats {
  fileSyncs: number;
  folderSyncs: number;
  dirtyBytes: number;
  undurableFolders: number;
}

/** Why FUSE cannot run here, or undefined if it can. Checked without mounting. */
function missing(): string | undefined {
  if (process.platform !== "linux") return "FUSE tests run on Linux only";
  if (!existsSync("/dev/fuse")) return "/dev/fuse is missing";
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  const probe = spawnSync(PYTHON, ["-c", "import fusepy"], { encoding: "utf8" });
  if (probe.status !== 0) return "python3-fusepy is not installed (apt-get install fuse3 python3-fusepy)";
  return undefined;
}

export class LazyFs {
  private daemon: ChildProcess | undefined;
  private lines: string[] = [];
  private waiters: Array<(line: string) => void> = [];

  private constructor(
    readonly root: string,
    readonly backing: string,
    readonly mount: string,
  ) {}

  /** Mounts a fresh lazyfs, or returns the reason it cannot be mounted here. */
  static async start(): Promise<LazyFs | string> {
    const reason = missing();
    if (reason) return reason;
    const root = mkdtempSync(join(tmpdir(), "larder-lazyfs-"));
    const fs = new LazyFs(root, join(root, "backing"), join(root, "mnt"));
    mkdirSync(fs.backing);
    mkdirSync(fs.mount);
    try {
      await fs.mountNow();
    } catch (err) {
      rmSync(root, { recursive: true, force: true });
      return `FUSE cannot be mounted here: ${(err as Error).message}`;
    }
    return fs;
  }

  private mountNow(): Promise<void> {
    const daemon = spawn(PYTHON, [SCRIPT, this.backing, this.mount], { stdio: ["pipe", "pipe", "pipe"] });
    this.daemon = daemon;
    this.lines = [];
    this.waiters = [];
    let stderr = "";
    let buffered = "";
    daemon.stdout!.setEncoding("utf8");
    daemon.stdout!.on("data", (chunk: string) => {
      buffered += chunk;
      for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        const waiter = this.waiters.shift();
        if (waiter) waiter(line);
        else this.lines.push(line);
      }
    });
    daemon.stderr!.setEncoding("utf8");
    daemon.stderr!.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        daemon.kill("SIGKILL");
        reject(new Error(`lazyfs did not mount within ${MOUNT_WAIT_MS} ms: ${stderr}`));
      }, MOUNT_WAIT_MS);
      daemon.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`lazyfs exited (code ${code}): ${stderr.trim()}`));
      });
      void this.nextLine().then((line) => {
        clearTimeout(timer);
        if (line === "ready") resolve();
        else reject(new Error(`lazyfs said ${line}: ${stderr}`));
      });
    });
  }

  private nextLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async command(name: string): Promise<string[]> {
    if (!this.daemon) throw new Error("lazyfs is not mounted");
    this.daemon.stdin!.write(name + "\n");
    const line = await this.nextLine();
    const [word, ...fields] = line.split(" ");
    if (word !== (name === "crash" ? "crashed" : name)) throw new Error(`lazyfs answered ${line} to ${name}`);
    return fields;
  }

  /** Drops everything not durable, as a power cut would. Nothing may hold files open. */
  async crash(): Promise<CrashReport> {
    const [dirtyBytes, undurableFolders] = (await this.command("crash")).map(Number);
    return { dirtyBytes: dirtyBytes!, undurableFolders: undurableFolders! };
  }

  async stats(): Promise<SyncStats> {
    const [fileSyncs, folderSyncs, dirtyBytes, undurableFolders] = (await this.command("stats")).map(Number);
    return { fileSyncs: fileSyncs!, folderSyncs: folderSyncs!, dirtyBytes: dirtyBytes!, undurableFolders: undurableFolders! };
  }

  /** A power cut and a reboot: drops what is not durable, unmounts, mounts the durable state. */
  async cut(): Promise<CrashReport> {
    const report = await this.crash();
    await this.unmount();
    await this.mountNow();
    return report;
  }

  async unmount(): Promise<void> {
    const daemon = this.daemon;
    if (!daemon) return;
    this.daemon = undefined;
    daemon.removeAllListeners("exit");
    const exited = new Promise<void>((resolve) => {
      if (daemon.exitCode !== null || daemon.signalCode !== null) resolve();
      else daemon.once("exit", () => resolve());
    });
    const done = spawnSync("umount", [this.mount], { encoding: "utf8" });
    if (done.status !== 0) spawnSync("umount", ["-l", this.mount]);
    const timer = setTimeout(() => daemon.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Unmounts and deletes the temp folder. */
  async stop(): Promise<void> {
    await this.unmount();
    rmSync(this.root, { recursive: true, force: true });
  }
}
