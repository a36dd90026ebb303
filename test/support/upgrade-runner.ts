// A child process for test/engine/format-upgrade.test.ts: runs the format 2 -> 3 upgrade of the
// folder argv[2] in small batches (argv[3] records each), printing "batch N" once each is on
// disk, so that the parent can SIGKILL it in the middle of the upgrade.

import { Level } from "level";
import type { Db } from "../../engine/commit.ts";
import { upgradeToFormat3 } from "../../engine/upgrade.ts";

const db = new Level<Buffer, Buffer>(process.argv[2]!, { keyEncoding: "buffer", valueEncoding: "buffer" }) as unknown as Db;
await db.open();
process.stdout.write("READY\n");
await upgradeToFormat3(db, { batchRecords: Number(process.argv[3]), onBatch: (n) => process.stdout.write(`batch ${n}\n`) });
process.stdout.write("DONE\n");
await db.close();
