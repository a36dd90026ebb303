// `npm run bench:scale [-- --quick] [-- --keep]`: the scale run of issue 2. Builds the data
// set (1,000,000 queue items over 10,000 partitions, a 1,000,000-key dict; a tenth with
// --quick) in a temp folder, then opens it in a fresh process and measures open time,
// RSS, and len() against an explicit scan. --keep leaves the folder and prints its path.

import { parseArgs } from "./lib/args.ts";
import { saveResult } from "./lib/program.ts";
import { Progress } from "./lib/progress.ts";
import { runMeta } from "./lib/results.ts";
import { SCALE_COLUMNS, SCALE_FULL, SCALE_QUICK, scaleRows, scaleSuite, scaleTargets } from "./lib/scale-suite.ts";
import { printTable } from "./lib/table.ts";
import { TARGET_COLUMNS, targetRows } from "./lib/targets.ts";

const args = parseArgs();
const meta = runMeta("bench/scale.ts", args.quick, 0);
const progress = new Progress(2);
const record = await scaleSuite({ size: args.quick ? SCALE_QUICK : SCALE_FULL, keep: args.extra.has("keep"), onStep: (l) => progress.begin(l) });
progress.end();
printTable(SCALE_COLUMNS, scaleRows(record));
process.stdout.write("\n");
const targets = scaleTargets(record);
printTable(TARGET_COLUMNS, targetRows(targets));
if (record.dir !== undefined) process.stdout.write(`\ndata kept in ${record.dir}\n`);
const path = saveResult(args, meta, "scale", "json", { meta, result: record, targets });
process.stdout.write(`\nresults: ${path}\n`);
