// Issue 15's throughput target: Larder on PostgreSQL (primary alone, and with a
// synchronous standby) reaches at least 1/5 of the embedded engine's rate (larder-fsync)
// for batched queue puts (putMany(100)), getMany(100) and dict get with 64 callers, on the
// same machine in the same run.

import { formatRate, formatRatio } from "./format.ts";
import { SCENARIO_TITLES, type ResultRecord } from "./report.ts";
import type { TargetCheck } from "./targets.ts";
import type { WakeRecord } from "./wake.ts";
import type { ScenarioKind } from "./workload.ts";

/** Issue 15: a put wakes a blocked getter, in the same process or another, with p50 under 5 ms. */
export function postgresWakeTargets(records: readonly WakeRecord[]): TargetCheck[] {
  return ["larder-postgres", "larder-postgres-notify"].map((system) => {
    const r = records.find((x) => x.system === system && x.error === undefined && x.samples > 0);
    return {
      target: `wake, ${system}: put call -> blocked get returns`,
      measured: r === undefined ? "-" : `${r.fromPutCall.p50Ms.toFixed(2)} ms`,
      threshold: "median < 5 ms",
      pass: r === undefined ? undefined : r.fromPutCall.p50Ms < 5,
    };
  });
}

const CASES: Array<{ scenario: ScenarioKind; batch: number; label: string }> = [
  { scenario: "queue-put", batch: 100, label: "putMany(100)" },
  { scenario: "queue-get", batch: 100, label: "getMany(100)" },
  { scenario: "dict-get", batch: 1, label: "get" },
];

export function postgresTargets(records: readonly ResultRecord[], valueBytes = 100): TargetCheck[] {
  const find = (system: string, scenario: ScenarioKind, batch: number) =>
    records.find((r) => r.system === system && r.scenario === scenario && r.batch === batch && r.callers === 64 && r.valueBytes === valueBytes);
  return ["larder-postgres", "larder-postgres-sync"].flatMap((system) =>
    CASES.map(({ scenario, batch, label }) => {
      const pg = find(system, scenario, batch)?.itemsPerSec;
      const embedded = find("larder-fsync", scenario, batch)?.itemsPerSec;
      const ratio = pg === undefined || embedded === undefined ? undefined : pg / embedded;
      return {
        target: `${system}: ${SCENARIO_TITLES[scenario]} ${label}, 64 callers, vs embedded fsync`,
        measured: ratio === undefined ? "-" : `${formatRate(pg!)}/s = ${formatRatio(ratio, 3)}`,
        threshold: ">= 0.20x",
        pass: ratio === undefined ? undefined : ratio >= 0.2,
      };
    }),
  );
}
