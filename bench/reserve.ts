// `npm run bench:reserve [-- --quick] [--duration=MS] [--rounds=N] [--only=WORD,...]`: reserve
// + ack beside get / getMany, single items and batches of 100, 64 callers, fsync, embedded,
// over HTTP and on PostgreSQL (larder-fsync, larder-http-fsync, larder-postgres; --only picks
// by name; bench/lib/reserve-suite.ts); `npm run bench` runs the same suite with its own durations.

import { parseArgs, selected } from "./lib/args.ts";
import { Progress } from "./lib/progress.ts";
import { RESERVE_COLUMNS, reserveItemsPerRun, reserveRows, reserveSuite, reserveTargets, type ReserveSystemName } from "./lib/reserve-suite.ts";
import { printTable } from "./lib/table.ts";
import { TARGET_COLUMNS, targetRows } from "./lib/targets.ts";

const args = parseArgs();
const durationMs = args.durationMs ?? (args.quick ? 500 : 1500);
const rounds = args.rounds ?? (args.quick ? 1 : 3);
const systems = (["larder-fsync", "larder-http-fsync", "larder-postgres"] as ReserveSystemName[]).filter((s) => selected(args, s));
const progress = new Progress(systems.length * 2 * 2 * rounds);
const records = await reserveSuite({ durationMs, rounds, systems, itemsPerRun: reserveItemsPerRun(durationMs), onStep: (label) => progress.begin(label) });
progress.end();
printTable(RESERVE_COLUMNS, reserveRows(records));
process.stdout.write("\n");
printTable(TARGET_COLUMNS, targetRows(reserveTargets(records)));
