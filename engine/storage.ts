// Opening the LevelDB folder (or a memory-level store with the same interface), checking
// the format version written by the first open (upgrading a folder of format 2), and
// fsyncing the folder where LevelDB does not (FolderSync).

// `level` is classic-level (LevelDB through N-API) in Node.js; it is the package users know.
import { closeSync, fstatSync, fsync, openSync, readdirSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Level } from "level";
import { MemoryLevel } from "memory-level";
import type { OpenOptions } from "../proto/api.ts";
import { InternalError, InvalidError, LockedError } from "../proto/errors.ts";
import type { Db } from "./commit.ts";
import { FORMAT_VERSION, NEXT_NUM_KEY, VERSION_KEY, encodeU32, readU64 } from "./layout.ts";
import { UPGRADE_KEY, upgradeToFormat3 } from "./upgrade.ts";

/**
 * LevelDB's write buffer: the memtable that absorbs writes before they are sorted into
 * files. 4 MiB (the default) means a flush and a compaction every few thousand queue
 * items of 1 KiB; 32 MiB cuts that eightfold for 32 MiB more memory at most.
 */
const WRITE_BUFFER_BYTES = 32 * 1024 * 1024;
/** The first internal number; 0 means "none" in partition state. */
const FIRST_NUM = 1;

function isLocked(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === "LEVEL_LOCKED" || e?.cause?.code === "LEVEL_LOCKED";
}

/**
 * Creates the data folder and its missing parents one level at a time. classic-level's own
 * `mkdir(path, { recursive: true })` never returns for a path under /proc (a Node bug: it
 * spins at full CPU), so the folder must exist before LevelDB is asked to open it. Each
 * folder it creates has its name made durable by an fsync of its parent: without that, a
 * power cut can take the whole data folder with every write acknowledged in it.
 */
async function ensureFolder(path: string): Promise<void> {
  const missing: string[] = [];
  for (let dir = resolve(path); ; ) {
    try {
      if (!(await stat(dir)).isDirectory()) throw new InvalidError(`the data folder ${path} cannot be made: ${dir} is not a folder`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
        if (err instanceof InvalidError) throw err;
        throw new InternalError(`cannot open the data folder ${path}: ${(err as Error).message}`, { cause: err });
      }
      missing.push(dir);
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw new InternalError(`cannot create the data folder ${path}: ${(err as Error).message}`, { cause: err });
    }
    await syncFolderOrFail(dirname(dir), path);
  }
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** fsync(2) of a folder: makes the names created, renamed or removed in it durable. */
async function syncFolder(dir: string): Promise<void> {
  const fd = openSync(dir, "r");
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

async function syncFolderOrFail(dir: string, path: string): Promise<void> {
  try {
    await syncFolder(dir);
  } catch (err) {
    throw new InternalError(`cannot fsync the folder ${dir} of the data folder ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A change of the folder's mtime younger than this, when it is read, may be followed by
 * another change that leaves the same mtime: file systems stamp folders with a coarse clock
 * (one kernel tick, 1-10 ms). Until the mtime is older than this, every check looks again.
 */
const FOLDER_MTIME_SETTLE_NS = 50_000_000n;

/** The highest NNNNNN.log number among LevelDB's files, 0 if none. */
function highestLog(names: string[]): number {
  let highest = 0;
  for (const name of names) {
    if (name.length > 4 && name.endsWith(".log") && /^[0-9]+\.log$/.test(name)) highest = Math.max(highest, Number(name.slice(0, -4)));
  }
  return highest;
}

/**
 * Makes the names of LevelDB's files durable where LevelDB 1.20 (in classic-level 3.0.0)
 * leaves them to the file system's luck. LevelDB fsyncs its folder only when it syncs a
 * MANIFEST; so
 *
 * - at open, the rename of the new CURRENT and (for a new store) the bytes of its first
 *   manifest are not durable: a power cut leaves CURRENT naming an empty manifest, and the
 *   store cannot be opened ("no meta-nextfile entry in descriptor");
 * - at a log switch (a full memtable), the new NNNNNN.log's name is not durable until the
 *   memtable's compaction writes the manifest: writes acknowledged into it are lost if the
 *   power goes before.
 *
 * `opened()` fsyncs the folder and its parent after LevelDB's open. `afterWrite()` runs
 * after each synced batch, before its callers are answered: one fstat of the folder; only if
 * the folder's mtime moved (LevelDB made, renamed or removed a file since the last look) it
 * lists the folder, and only if a log newer than the last durable one is there it fsyncs the
 * folder. A log switch happens inside the write, so its file exists before the write
 * returns; a switch made by another write (a range delete of the garbage collector) moves
 * the mtime too and is caught at the next batch, before anything written into the new log
 * is answered. Table files need nothing: LevelDB syncs the folder with the manifest record
 * that names them.
 */
export class FolderSync {
  private mtimeNs = -1n;
  private settled = false;
  private durableLog = 0;

  private constructor(
    private readonly path: string,
    private readonly fd: number,
  ) {}

  /** After LevelDB's open: fsyncs the folder (every name LevelDB made) and its parent. */
  static async opened(path: string): Promise<FolderSync> {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      throw new InternalError(`cannot open the data folder ${path} to fsync it: ${(err as Error).message}`, { cause: err });
    }
    const folder = new FolderSync(path, fd);
    try {
      folder.look();
      const highest = highestLog(readdirSync(path));
      await fsyncFd(fd);
      folder.durableLog = highest;
      await syncFolder(dirname(resolve(path)));
    } catch (err) {
      folder.close();
      throw new InternalError(`cannot fsync the data folder ${path}: ${(err as Error).message}`, { cause: err });
    }
    return folder;
  }

  /** Reads the folder's mtime; true if it moved since the last look, or had not settled then. */
  private look(): boolean {
    const now = BigInt(Date.now()) * 1_000_000n;
    const mtimeNs = fstatSync(this.fd, { bigint: true }).mtimeNs;
    const moved = mtimeNs !== this.mtimeNs || !this.settled;
    this.mtimeNs = mtimeNs;
    this.settled = now - mtimeNs >= FOLDER_MTIME_SETTLE_NS;
    return moved;
  }

  /**
   * After a synced batch write, before its callers are answered: undefined when no new log
   * appeared (the common case, one fstat), else the fsync of the folder.
   */
  afterWrite(): Promise<void> | undefined {
    if (!this.look()) return undefined;
    const highest = highestLog(readdirSync(this.path));
    if (highest <= this.durableLog) return undefined;
    return fsyncFd(this.fd).then(() => {
      this.durableLog = Math.max(this.durableLog, highest);
    });
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

async function openLevel(path: string): Promise<{ db: Db; folder: FolderSync }> {
  await ensureFolder(path);
  const db = new Level<Buffer, Buffer>(path, {
    keyEncoding: "buffer",
    valueEncoding: "buffer",
    writeBufferSize: WRITE_BUFFER_BYTES,
  });
  try {
    await db.open();
  } catch (err) {
    if (isLocked(err)) throw new LockedError(`the data folder ${path} is already open, in this or another process`, { cause: err });
    throw new InternalError(`cannot open the data folder ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return { db: db as unknown as Db, folder: await FolderSync.opened(path) };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

export interface Storage {
  db: Db;
  nextNum: number;
  /** The data folder's fsyncs; undefined in memory. */
  folder: FolderSync | undefined;
}

export async function openStorage(options: OpenOptions): Promise<Storage> {
  let db: Db;
  let folder: FolderSync | undefined;
  if (options.memory === true) {
    if (options.path !== undefined) throw new InvalidError("give either path or memory: true, not both");
    db = new MemoryLevel<Buffer, Buffer>({ keyEncoding: "buffer", valueEncoding: "buffer" }) as unknown as Db;
    await db.open();
  } else {
    if (typeof options.path !== "string" || options.path.length === 0) {
      throw new InvalidError("open needs a folder path, or memory: true");
    }
    ({ db, folder } = await openLevel(options.path));
  }
  try {
    const version = db.getSync(VERSION_KEY);
    const next = db.getSync(NEXT_NUM_KEY);
    if (version === undefined) {
      if (next !== undefined) throw new InternalError("the data folder has data but no format version");
      // classic-level takes `sync`; memory-level ignores it.
      await db.batch([{ type: "put", key: VERSION_KEY, value: encodeU32(FORMAT_VERSION) }], { sync: true } as object);
    } else {
      let found = version.readUInt32BE(0);
      if (found === 2 || (found === 3 && db.getSync(UPGRADE_KEY) !== undefined)) {
        // Format 2, or an upgrade from it that was cut off: rewrite its values (engine/upgrade.ts).
        await upgradeToFormat3(db);
        found = 3;
      }
      if (found === 3) {
        // Format 4 only adds forms of rows (request records naming items by reference, their
        // runs' request-age rows, delayed garbage markers): every format-3 row reads as it was.
        // The version is raised so that a release reading only format 3 refuses the folder.
        await db.batch([{ type: "put", key: VERSION_KEY, value: encodeU32(FORMAT_VERSION) }], { sync: true } as object);
      } else if (found !== FORMAT_VERSION) {
        throw new InternalError(`the data folder has format version ${found}; this Larder reads ${FORMAT_VERSION} (and upgrades 2 and 3)`);
      }
    }
    return { db, nextNum: next === undefined ? FIRST_NUM : readU64(next, 0), folder };
  } catch (err) {
    await db.close().catch(() => {});
    folder?.close();
    throw err;
  }
}
