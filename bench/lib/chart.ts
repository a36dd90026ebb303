// A hand-written SVG bar chart, no dependency: panels stacked vertically, each a list of
// groups (one scenario shape), each group one horizontal bar per series (system). The
// x axis is logarithmic, because the systems span four orders of magnitude (an fsynced
// put against an in-memory read); gridlines mark each power of ten.

export interface Bar {
  readonly series: string;
  readonly value: number;
  /** Printed at the end of the bar. */
  readonly text: string;
}

export interface BarGroup {
  readonly label: string;
  readonly bars: readonly Bar[];
}

export interface ChartPanel {
  readonly title: string;
  readonly groups: readonly BarGroup[];
}

export interface ChartSpec {
  readonly title: string;
  readonly subtitle: string;
  readonly axisLabel: string;
  /** Series in legend order; colours are assigned in this order. */
  readonly series: readonly string[];
  readonly panels: readonly ChartPanel[];
}

const PALETTE = ["#1f77b4", "#6baed6", "#2ca02c", "#98df8a", "#7f7f7f", "#c7c7c7", "#ff7f0e", "#d62728", "#ff9896", "#9467bd", "#8c564b"];
const WIDTH = 1100;
const LABEL_WIDTH = 170;
const VALUE_WIDTH = 80;
const BAR_HEIGHT = 8;
const BAR_GAP = 1;
const GROUP_GAP = 10;
const PANEL_HEADER = 44;
const PANEL_GAP = 20;
const TOP = 96;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderBarChart(spec: ChartSpec): string {
  const values = spec.panels.flatMap((p) => p.groups.flatMap((g) => g.bars.map((b) => b.value))).filter((v) => v > 0);
  const lo = values.length > 0 ? Math.floor(Math.log10(Math.min(...values))) : 0;
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values, 10))));
  const plotLeft = LABEL_WIDTH;
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
  const x = (v: number) => plotLeft + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * plotWidth;
  const colour = (series: string) => PALETTE[Math.max(0, spec.series.indexOf(series)) % PALETTE.length]!;

  const out: string[] = [];
  let y = TOP;
  for (const panel of spec.panels) {
    const panelTop = y;
    y += PANEL_HEADER;
    for (const group of panel.groups) {
      const groupHeight = group.bars.length * (BAR_HEIGHT + BAR_GAP);
      out.push(`<text x="${plotLeft - 8}" y="${y + groupHeight / 2 + 4}" text-anchor="end" class="label">${escapeXml(group.label)}</text>`);
      for (const bar of group.bars) {
        const width = bar.value > 0 ? Math.max(1, x(bar.value) - plotLeft) : 0;
        out.push(`<rect x="${plotLeft}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${colour(bar.series)}"><title>${escapeXml(`${bar.series}: ${bar.text}`)}</title></rect>`);
        out.push(`<text x="${(plotLeft + width + 3).toFixed(1)}" y="${y + BAR_HEIGHT - 1}" class="value">${escapeXml(bar.text)}</text>`);
        y += BAR_HEIGHT + BAR_GAP;
      }
      y += GROUP_GAP;
    }
    out.unshift(gridlines(panelTop + PANEL_HEADER - 6, y - GROUP_GAP, lo, hi, x));
    out.push(`<text x="${plotLeft}" y="${panelTop + 16}" class="panel">${escapeXml(panel.title)}</text>`);
    y += PANEL_GAP;
  }
  const height = y + 30;
  out.push(`<text x="${plotLeft + plotWidth / 2}" y="${height - 10}" text-anchor="middle" class="label">${escapeXml(spec.axisLabel)}</text>`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">`,
    `<style>.label{font-size:11px;fill:#333}.value{font-size:8px;fill:#555}.panel{font-size:14px;font-weight:bold;fill:#111}.tick{font-size:9px;fill:#777}</style>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="16" y="26" font-size="18" font-weight="bold">${escapeXml(spec.title)}</text>`,
    `<text x="16" y="46" font-size="11" fill="#555">${escapeXml(spec.subtitle)}</text>`,
    legend(spec.series, colour),
    ...out,
    `</svg>`,
  ].join("\n");
}

function gridlines(top: number, bottom: number, lo: number, hi: number, x: (v: number) => number): string {
  const lines: string[] = [];
  for (let p = lo; p <= hi; p++) {
    const gx = x(10 ** p).toFixed(1);
    lines.push(`<line x1="${gx}" y1="${top}" x2="${gx}" y2="${bottom}" stroke="#e4e4e4"/>`);
    lines.push(`<text x="${gx}" y="${top - 2}" text-anchor="middle" class="tick">${escapeXml(powerLabel(p))}</text>`);
  }
  return lines.join("\n");
}

function powerLabel(p: number): string {
  const v = 10 ** p;
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return String(v);
}

function legend(series: readonly string[], colour: (s: string) => string): string {
  const items: string[] = [];
  let lx = 16;
  let ly = 64;
  for (const s of series) {
    const w = 22 + s.length * 6.5;
    if (lx + w > WIDTH - 16) {
      lx = 16;
      ly += 16;
    }
    items.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="10" fill="${colour(s)}"/><text x="${lx + 16}" y="${ly}" class="label">${escapeXml(s)}</text>`);
    lx += w + 10;
  }
  return items.join("\n");
}
