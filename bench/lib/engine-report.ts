// The text table of issue 2's engine figures.

import { formatMs, formatRate, formatRatio } from "./format.ts";
import type { EngineRecord } from "./engine-suite.ts";
import type { Column, Row } from "./table.ts";

export const ENGINE_COLUMNS: readonly Column[] = [
  { title: "system", align: "left" },
  { title: "operation", align: "left" },
  { title: "durability", align: "left" },
  { title: "callers" },
  { title: "items/s" },
  { title: "p50" },
  { title: "p99" },
  { title: "vs level", align: "right" },
  { title: "note", align: "left" },
];

export function engineRows(records: readonly EngineRecord[]): Row[] {
  const rows: Row[] = [];
  let last = "";
  for (const r of records) {
    const group = `${r.system}-${r.durability}`;
    if (last !== "" && group !== last) rows.push(null);
    last = group;
    const note = r.error !== undefined ? `failed: ${r.error}` : r.vsLevelOperation !== undefined ? `vs level ${r.vsLevelOperation}` : "";
    rows.push([
      r.system,
      r.operation,
      r.durability,
      String(r.callers),
      r.itemsPerSec === undefined ? "-" : formatRate(r.itemsPerSec),
      formatMs(r.p50Ms ?? Number.NaN),
      formatMs(r.p99Ms ?? Number.NaN),
      formatRatio(r.vsLevel),
      note,
    ]);
  }
  return rows;
}
