// Turning measurements into the side-by-side report: each Larder figure as a ratio to its
// comparators (raw classic-level and Redis of the same durability, the bare HTTP server
// for Larder over HTTP), one text table, and one chart.

import type { ChartSpec } from "./chart.ts";
import { formatMs, formatRate, formatRatio, sizeLabel } from "./format.ts";
import type { Measurement } from "./runner.ts";
import type { Column, Row } from "./table.ts";
import type { ScenarioKind, Shape, System } from "./workload.ts";

export interface ResultRecord extends Partial<Measurement> {
  readonly system: string;
  readonly family: System["family"];
  readonly durability: System["durability"];
  readonly transport: System["transport"];
  readonly scenario: ScenarioKind;
  readonly valueBytes: number;
  readonly batch: number;
  readonly callers: number;
  /** Set when the scenario failed; the measurement fields are then absent. */
  readonly error?: string;
  /** Larder rows: items/s divided by each comparator's items/s in the same scenario. */
  ratios?: Partial<Record<ComparatorName, number>>;
}

export type ComparatorName = "level" | "redis" | "bareHttp";

/** Which systems a Larder system is compared with: same durability, same kind of transport. */
export function comparatorsOf(record: ResultRecord): Partial<Record<ComparatorName, string>> {
  if (record.family !== "larder") return {};
  const durable = record.durability === "fsync";
  return {
    level: durable ? "level-fsync" : "level-buffered",
    redis: durable ? "redis-always" : "redis-none",
    ...(record.transport === "http" ? { bareHttp: "bare-http" } : {}),
  };
}

export function shapeKey(r: { scenario: string; valueBytes: number; batch: number; callers: number }): string {
  return `${r.scenario}|${r.valueBytes}|${r.batch}|${r.callers}`;
}

/** Fills `ratios` on every Larder record whose comparators ran. */
export function computeRatios(records: ResultRecord[]): void {
  const bySystemShape = new Map(records.map((r) => [`${r.system}|${shapeKey(r)}`, r]));
  for (const record of records) {
    if (record.family !== "larder" || record.itemsPerSec === undefined) continue;
    const ratios: Partial<Record<ComparatorName, number>> = {};
    for (const [name, system] of Object.entries(comparatorsOf(record)) as Array<[ComparatorName, string]>) {
      const other = bySystemShape.get(`${system}|${shapeKey(record)}`);
      if (other?.itemsPerSec) ratios[name] = record.itemsPerSec / other.itemsPerSec;
    }
    record.ratios = ratios;
  }
}

export const SCENARIO_TITLES: Record<ScenarioKind, string> = {
  "queue-put": "queue put",
  "queue-get": "queue get",
  "dict-put": "dict put",
  "dict-get": "dict get",
};

export function shapeLabel(shape: Shape): string {
  return `${sizeLabel(shape.valueBytes)} x${shape.batch} c${shape.callers}`;
}

export const REPORT_COLUMNS: readonly Column[] = [
  { title: "scenario", align: "left" },
  { title: "value" },
  { title: "batch" },
  { title: "callers" },
  { title: "system", align: "left" },
  { title: "items/s" },
  { title: "p50" },
  { title: "p99" },
  { title: "vs level" },
  { title: "vs redis" },
  { title: "vs bare-http" },
  { title: "note", align: "left" },
];

/** Table rows grouped by scenario shape, in the order the records were measured. */
export function reportRows(records: readonly ResultRecord[]): Row[] {
  const groups = new Map<string, ResultRecord[]>();
  for (const r of records) {
    const key = shapeKey(r);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  const order: ScenarioKind[] = ["queue-put", "queue-get", "dict-put", "dict-get"];
  const keys = [...groups.keys()].sort((a, b) => {
    const [ka, ...ra] = a.split("|");
    const [kb, ...rb] = b.split("|");
    const byKind = order.indexOf(ka as ScenarioKind) - order.indexOf(kb as ScenarioKind);
    if (byKind !== 0) return byKind;
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return Number(ra[i]) - Number(rb[i]);
    return 0;
  });
  const rows: Row[] = [];
  for (const key of keys) {
    if (rows.length > 0) rows.push(null);
    groups.get(key)!.forEach((r, i) => rows.push(reportRow(r, i === 0)));
  }
  return rows;
}

function reportRow(r: ResultRecord, first: boolean): string[] {
  const shapeCells = first
    ? [SCENARIO_TITLES[r.scenario], sizeLabel(r.valueBytes), String(r.batch), String(r.callers)]
    : ["", "", "", ""];
  if (r.error !== undefined) return [...shapeCells, r.system, "-", "-", "-", "", "", "", `failed: ${r.error}`];
  return [
    ...shapeCells,
    r.system,
    formatRate(r.itemsPerSec ?? Number.NaN),
    formatMs(r.p50Ms ?? Number.NaN),
    formatMs(r.p99Ms ?? Number.NaN),
    formatRatio(r.ratios?.level),
    formatRatio(r.ratios?.redis),
    formatRatio(r.ratios?.bareHttp),
  ];
}

/** One panel per scenario kind, one group per shape, one bar per system. */
export function reportChart(records: readonly ResultRecord[], systems: readonly string[], subtitle: string): ChartSpec {
  const kinds: ScenarioKind[] = ["queue-put", "queue-get", "dict-put", "dict-get"];
  const panels = kinds.map((kind) => {
    const shapes = new Map<string, ResultRecord[]>();
    for (const r of records) {
      if (r.scenario !== kind || r.itemsPerSec === undefined) continue;
      const label = shapeLabel(r);
      if (!shapes.has(label)) shapes.set(label, []);
      shapes.get(label)!.push(r);
    }
    return {
      title: SCENARIO_TITLES[kind],
      groups: [...shapes].map(([label, rs]) => ({
        label,
        bars: rs.map((r) => ({ series: r.system, value: r.itemsPerSec!, text: `${formatRate(r.itemsPerSec!)}/s  p50 ${formatMs(r.p50Ms!)}` })),
      })),
    };
  });
  return {
    title: "Larder beside its baselines: items per second (log scale)",
    subtitle,
    axisLabel: "items per second (log scale); bar text: throughput and median latency per call",
    series: systems,
    panels: panels.filter((p) => p.groups.length > 0),
  };
}
