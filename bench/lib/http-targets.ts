// Issue 3's throughput target: single-item calls over HTTP with 64 concurrent callers reach
// at least 70% of a bare node:http server's requests/s for requests of the same size.
// Checked in buffered mode, where the disk does not set the pace; fsync ratios are in the table.

import { formatRate, formatRatio } from "./format.ts";
import { SCENARIO_TITLES, type ResultRecord } from "./report.ts";
import type { TargetCheck } from "./targets.ts";
import type { ScenarioKind } from "./workload.ts";

//
// Like for like, the target is checked on the unbatched client (one request per call, as the
// bare baseline sends). The default client, which batches the calls made while 4 requests
// are in flight, is listed too, against the same threshold: it is what users get.

export function httpTargets(records: readonly ResultRecord[], valueBytes = 100): TargetCheck[] {
  const kinds: ScenarioKind[] = ["queue-put", "queue-get", "dict-put", "dict-get"];
  const systems = [
    ["larder-http-buffered-unbatched", "http buffered, one request per call"],
    ["larder-http-buffered", "http buffered, default client (batches)"],
  ] as const;
  return systems.flatMap(([system, label]) => kinds.map((scenario) => {
    const r = records.find(
      (x) => x.system === system && x.scenario === scenario && x.batch === 1 && x.callers === 64 && x.valueBytes === valueBytes,
    );
    const ratio = r?.ratios?.bareHttp;
    return {
      target: `${label}: ${SCENARIO_TITLES[scenario]}, 64 callers, vs bare node:http`,
      measured: ratio === undefined ? "-" : `${formatRate(r!.itemsPerSec!)}/s = ${formatRatio(ratio, 3)}`,
      threshold: ">= 0.70x",
      pass: ratio === undefined ? undefined : ratio >= 0.7,
    };
  }));
}
