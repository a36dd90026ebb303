// Raw classic-level: the physical limit of the storage Larder is built on. No encoding,
// no index, no coordination beyond what the operation needs:
//   queue put  = put (one item) or a chained batch (many) of keys "q" + 8-byte sequence
//   queue get  = claim the next n sequence numbers in memory, getMany them, batch-delete
//   dict put   = put, or a chained batch for many entries, of keys "d" + key
//   dict get   = get, or getMany for many keys
// Writes use `sync: true` when durability is fsync, as Larder's fsync mode must.

import { ClassicLevel } from "classic-level";
import { tempDir } from "./cleanup.ts";
import type { Primitives, Shape, System } from "./workload.ts";

export type RawDb = ClassicLevel<Buffer, Buffer>;

export async function openRawDb(prefix: string): Promise<{ db: RawDb; path: string; remove: () => void }> {
  const dir = tempDir(prefix);
  const db = new ClassicLevel<Buffer, Buffer>(dir.path, { keyEncoding: "buffer", valueEncoding: "buffer" });
  await db.open();
  return { db, path: dir.path, remove: dir.remove };
}

function seqKey(prefix: Buffer, seq: number): Buffer {
  const key = Buffer.allocUnsafe(prefix.length + 8);
  prefix.copy(key, 0);
  key.writeBigUInt64BE(BigInt(seq), prefix.length);
  return key;
}

export class LevelSystem implements System {
  readonly family = "level" as const;
  readonly transport = "embedded" as const;
  readonly name: string;
  private shapes = 0;

  private constructor(
    private readonly db: RawDb,
    private readonly remove: () => void,
    readonly durability: "fsync" | "buffered",
  ) {
    this.name = `level-${durability}`;
  }

  static async open(durability: "fsync" | "buffered"): Promise<LevelSystem> {
    const { db, remove } = await openRawDb(`level-${durability}`);
    return new LevelSystem(db, remove, durability);
  }

  async primitives(_shape: Shape): Promise<Primitives> {
    const db = this.db;
    const sync = this.durability === "fsync";
    const id = this.shapes++;
    const queuePrefix = Buffer.from(`q${id}:`);
    const dictPrefix = `d${id}:`;
    let head = 0;
    let tail = 0;
    return {
      async queuePut(values) {
        if (values.length === 1) {
          await db.put(seqKey(queuePrefix, tail++), values[0] as Buffer, { sync });
          return;
        }
        const batch = db.batch();
        for (const value of values) batch.put(seqKey(queuePrefix, tail++), value as Buffer);
        await batch.write({ sync });
      },
      async queueGet(n) {
        const count = Math.min(n, tail - head);
        if (count <= 0) return 0;
        const keys: Buffer[] = [];
        for (let i = 0; i < count; i++) keys.push(seqKey(queuePrefix, head++));
        await db.getMany(keys);
        const batch = db.batch();
        for (const key of keys) batch.del(key);
        await batch.write({ sync });
        return count;
      },
      async dictPut(entries) {
        if (entries.length === 1) {
          const [key, value] = entries[0]!;
          await db.put(Buffer.from(dictPrefix + key), value as Buffer, { sync });
          return;
        }
        const batch = db.batch();
        for (const [key, value] of entries) batch.put(Buffer.from(dictPrefix + key), value as Buffer);
        await batch.write({ sync });
      },
      async dictGet(keys) {
        if (keys.length === 1) return (await db.get(Buffer.from(dictPrefix + keys[0]))) === undefined ? 0 : 1;
        const values = await db.getMany(keys.map((k) => Buffer.from(dictPrefix + k)));
        return values.filter((v) => v !== undefined).length;
      },
      async dispose() {
        await db.clear({ gte: queuePrefix, lt: Buffer.from(`q${id};`) });
        await db.clear({ gte: Buffer.from(dictPrefix), lt: Buffer.from(`d${id};`) });
      },
    };
  }

  async close(): Promise<void> {
    await this.db.close();
    this.remove();
  }
}
