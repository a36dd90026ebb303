// Opening the LevelDB folder (or a memory-level store with the same interface) and checking
// the format version written by the first open (upgrading a folder of format 2).

// `level` is classic-level (LevelDB through N-API) in Node.js; it is the package users know.
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
 * spins at full CPU), so the folder must exist before LevelDB is asked to open it.
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
  }
}

async function openLevel(path: string): Promise<Db> {
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
  return db as unknown as Db;
}

export async function openStorage(options: OpenOptions): Promise<{ db: Db; nextNum: number }> {
  let db: Db;
  if (options.memory === true) {
    if (options.path !== undefined) throw new InvalidError("give either path or memory: true, not both");
    db = new MemoryLevel<Buffer, Buffer>({ keyEncoding: "buffer", valueEncoding: "buffer" }) as unknown as Db;
    await db.open();
  } else {
    if (typeof options.path !== "string" || options.path.length === 0) {
      throw new InvalidError("open needs a folder path, or memory: true");
    }
    db = await openLevel(options.path);
  }
  try {
    const version = db.getSync(VERSION_KEY);
    const next = db.getSync(NEXT_NUM_KEY);
    if (version === undefined) {
      if (next !== undefined) throw new InternalError("the data folder has data but no format version");
      // classic-level takes `sync`; memory-level ignores it.
      await db.batch([{ type: "put", key: VERSION_KEY, value: encodeU32(FORMAT_VERSION) }], { sync: true } as object);
    } else if (version.readUInt32BE(0) === 2 || (version.readUInt32BE(0) === FORMAT_VERSION && db.getSync(UPGRADE_KEY) !== undefined)) {
      // Format 2, or an upgrade from it that was cut off: rewrite its values (engine/upgrade.ts).
      await upgradeToFormat3(db);
    } else if (version.readUInt32BE(0) !== FORMAT_VERSION) {
      throw new InternalError(`the data folder has format version ${version.readUInt32BE(0)}; this Larder reads ${FORMAT_VERSION} (and upgrades 2)`);
    }
    return { db, nextNum: next === undefined ? FIRST_NUM : readU64(next, 0) };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
