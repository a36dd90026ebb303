// Issue 4's targets, checked on batches of 100 with 64 callers and 100-byte values:
// - Larder over HTTP moves more items/s than Redis with `appendfsync always` driven the same
//   way (both durable before they answer, so Larder's fsync mode is the one compared;
//   putMany(100) against LPUSH of 100, getMany(100) against a pop of 100);
// - Larder embedded in fsync mode moves at least 30% of raw LevelDB's chained-batch
//   entries/s (chained batches of 1,000 with sync: true, one writer).

import { formatRate, formatRatio } from "./format.ts";
import type { ResultRecord } from "./report.ts";
import type { TargetCheck } from "./targets.ts";
import type { ScenarioKind } from "./workload.ts";

function find(records: readonly ResultRecord[], system: string, scenario: ScenarioKind, batch: number, callers: number): number | undefined {
  return records.find((r) => r.system === system && r.scenario === scenario && r.valueBytes === 100 && r.batch === batch && r.callers === callers)
    ?.itemsPerSec;
}

function ratioCheck(target: string, larder: number | undefined, base: number | undefined, min: number, baseLabel: string): TargetCheck {
  const ratio = larder !== undefined && base ? larder / base : undefined;
  return {
    target,
    measured: ratio === undefined ? "-" : `${formatRate(larder!)}/s = ${formatRatio(ratio, 2)}`,
    threshold: `>= ${min.toFixed(2)}x of ${base ? `${formatRate(base)}/s` : "-"} ${baseLabel}`,
    pass: ratio === undefined ? undefined : ratio >= min,
  };
}

export function batchTargets(records: readonly ResultRecord[], rawBatch: number): TargetCheck[] {
  return [
    ratioCheck(
      "http fsync queue putMany(100), 64 callers, vs redis always",
      find(records, "larder-http-fsync", "queue-put", 100, 64),
      find(records, "redis-always", "queue-put", 100, 64),
      1,
      "(LPUSH x100)",
    ),
    ratioCheck(
      "http fsync queue getMany(100), 64 callers, vs redis always",
      find(records, "larder-http-fsync", "queue-get", 100, 64),
      find(records, "redis-always", "queue-get", 100, 64),
      1,
      "(pop x100)",
    ),
    ratioCheck(
      `embedded fsync queue putMany(100), 64 callers, vs raw chained batch(${rawBatch}) sync`,
      find(records, "larder-fsync", "queue-put", 100, 64),
      find(records, "level-fsync", "queue-put", rawBatch, 1),
      0.3,
      "",
    ),
  ];
}
