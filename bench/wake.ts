// `npx tsx bench/wake.ts [--quick]`: put -> blocked-getter wake latency, embedded and over
// HTTP, in fsync and buffered mode, beside Redis' BRPOP/LPUSH when redis-server is installed.

import { parseArgs } from "./lib/args.ts";
import { Progress } from "./lib/progress.ts";
import { REDIS_MISSING_NOTE, findRedisServer } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";
import { TARGET_COLUMNS, targetRows } from "./lib/targets.ts";
import { WAKE_COLUMNS, wakeRows, wakeTargets } from "./lib/wake-report.ts";
import { wakeSuite } from "./lib/wake.ts";

const args = parseArgs();
const samples = args.quick ? 30 : 300;
const executable = findRedisServer();
const progress = new Progress(executable === undefined ? 4 : 6);
if (executable === undefined) progress.note(REDIS_MISSING_NOTE);

const records = await wakeSuite({
  samples,
  larder: [
    { durability: "fsync", transport: "embedded" },
    { durability: "buffered", transport: "embedded" },
    { durability: "fsync", transport: "http" },
    { durability: "buffered", transport: "http" },
  ],
  redis: { executable, modes: ["always", "none"] },
  onStep: (label) => progress.begin(label),
});
progress.end();
printTable(WAKE_COLUMNS, wakeRows(records));
process.stdout.write("\n");
printTable(TARGET_COLUMNS, targetRows(wakeTargets(records)));
