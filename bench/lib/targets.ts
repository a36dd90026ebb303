// The targets the issues set, checked against figures of the same run and printed as one
// table: what was measured, the threshold, and PASS / MISS (or "n/a" when a figure is
// missing because a system was skipped or failed).

import type { Column, Row } from "./table.ts";

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly threshold: string;
  /** undefined: could not be checked in this run. */
  readonly pass: boolean | undefined;
}

export const TARGET_COLUMNS: readonly Column[] = [
  { title: "target", align: "left" },
  { title: "measured" },
  { title: "threshold", align: "left" },
  { title: "result", align: "left" },
];

export function targetRows(checks: readonly TargetCheck[]): Row[] {
  return checks.map((c) => [c.target, c.measured, c.threshold, c.pass === undefined ? "n/a" : c.pass ? "PASS" : "MISS"]);
}
