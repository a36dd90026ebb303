// The wake-latency table and its targets (issue 2: embedded median under 1 ms; issue 3:
// remote median under 2 ms).

import { formatMs } from "./format.ts";
import type { Column, Row } from "./table.ts";
import type { TargetCheck } from "./targets.ts";
import type { WakeRecord } from "./wake.ts";

export const WAKE_COLUMNS: readonly Column[] = [
  { title: "system", align: "left" },
  { title: "samples" },
  { title: "put call->get p50" },
  { title: "put call->get p99" },
  { title: "put return->get p50" },
  { title: "put return->get p99" },
  { title: "note", align: "left" },
];

export function wakeRows(records: readonly WakeRecord[]): Row[] {
  return records.map((r) => [
    r.system,
    String(r.samples),
    formatMs(r.fromPutCall.p50Ms),
    formatMs(r.fromPutCall.p99Ms),
    formatMs(r.fromPutReturn.p50Ms),
    formatMs(r.fromPutReturn.p99Ms),
    r.error === undefined ? "" : `failed: ${r.error}`,
  ]);
}

/**
 * In buffered mode the put's commit is cheap, so "put call -> get return" is the wake
 * latency a user sees. In fsync mode that figure includes the put's own fsync, which no
 * getter can beat; the wake itself is "put return -> get return".
 */
export function wakeTargets(records: readonly WakeRecord[]): TargetCheck[] {
  const find = (system: string) => records.find((r) => r.system === system && r.error === undefined && r.samples > 0);
  const check = (label: string, system: string, pick: "fromPutCall" | "fromPutReturn", limitMs: number): TargetCheck => {
    const r = find(system);
    const p50 = r?.[pick].p50Ms;
    return {
      target: label,
      measured: p50 === undefined ? "-" : formatMs(p50),
      threshold: `median < ${limitMs} ms`,
      pass: p50 === undefined ? undefined : p50 < limitMs,
    };
  };
  return [
    check("wake, embedded buffered: put call -> blocked get returns", "larder-buffered", "fromPutCall", 1),
    check("wake, embedded fsync: put returns -> blocked get returns", "larder-fsync", "fromPutReturn", 1),
    check("wake, remote buffered: put call -> blocked remote get returns", "larder-http-buffered", "fromPutCall", 2),
    check("wake, remote fsync: put returns -> blocked remote get returns", "larder-http-fsync", "fromPutReturn", 2),
  ];
}
