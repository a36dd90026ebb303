// The queue page's live charts, SVG lines over the last WINDOW_MS: the queue's length as
// the page samples it, and its put and get rates from the 5 s buckets the server counts
// (`queue/counters`), so the rates of the last minutes show as soon as the page opens.

import { h } from "./dom.ts";

export const WINDOW_MS = 5 * 60_000;
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 120;

export interface Sample {
  atMs: number;
  length: number;
  /** Items per second (rate samples only). */
  putRate: number | undefined;
  getRate: number | undefined;
}

interface Series {
  name: string;
  cls: string;
  value: (s: Sample) => number | undefined;
  unit: string;
}

/** One chart: a titled SVG with a line per series and the latest values under it. */
class Chart {
  readonly element: HTMLElement;
  private readonly svg: SVGSVGElement;
  private readonly legend: HTMLElement;
  private readonly scale: HTMLElement;

  constructor(
    private readonly title: string,
    private readonly series: readonly Series[],
  ) {
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
    this.svg.setAttribute("preserveAspectRatio", "none");
    this.svg.setAttribute("role", "img");
    this.legend = h("p", { class: "legend" });
    this.scale = h("span", { class: "scale" });
    this.element = h("figure", { class: "chart" }, h("figcaption", {}, title, " ", this.scale), h("div", { class: "plot" }, this.svg), this.legend);
  }

  /** Draws the samples from `fromMs` to `nowMs` across the whole width. */
  draw(samples: readonly Sample[], fromMs: number, nowMs: number): void {
    const max = Math.max(1, ...samples.flatMap((s) => this.series.map((x) => x.value(s) ?? 0)));
    const spanMs = Math.max(nowMs - fromMs, 1);
    const x = (atMs: number): number => ((atMs - fromMs) / spanMs) * WIDTH;
    const y = (v: number): number => HEIGHT - (v / max) * (HEIGHT - 4) - 2;
    this.svg.replaceChildren();
    for (const fraction of [0.5, 1]) {
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", "0");
      line.setAttribute("x2", String(WIDTH));
      line.setAttribute("y1", String(y(max * fraction)));
      line.setAttribute("y2", String(y(max * fraction)));
      line.setAttribute("class", "grid");
      this.svg.append(line);
    }
    for (const series of this.series) {
      const points = samples.flatMap((s) => {
        const v = series.value(s);
        return v === undefined ? [] : [`${x(s.atMs).toFixed(1)},${y(v).toFixed(1)}`];
      });
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", points.join(" "));
      line.setAttribute("class", `line ${series.cls}`);
      line.setAttribute("vector-effect", "non-scaling-stroke");
      this.svg.append(line);
    }
    const last = samples[samples.length - 1];
    const latest = this.series.map((series) => {
      const v = last === undefined ? undefined : series.value(last);
      return `${series.name} ${v === undefined ? "—" : `${formatNumber(v)}${series.unit}`}`;
    });
    const span = spanText(nowMs - fromMs);
    this.scale.textContent = `(last ${span}, top of scale ${formatNumber(max)})`;
    this.legend.replaceChildren(...this.series.map((series, i) => h("span", { class: `key ${series.cls}` }, latest[i]!)));
    this.svg.setAttribute("aria-label", `${this.title} over the last ${span}: now ${latest.join(", ")}; at most ${formatNumber(max)}`);
  }
}

function spanText(ms: number): string {
  return ms < 90_000 ? `${Math.max(1, Math.round(ms / 1000))} s` : `${Math.round(ms / 60_000)} min`;
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(1);
}

/** The two charts of a queue page: its length, sampled while the page is open, and its put and get rates, from the server's history. */
export class QueueCharts {
  readonly element: HTMLElement;
  private readonly lengths: Sample[] = [];
  private readonly length = new Chart("Items in the queue", [{ name: "length", cls: "s-length", value: (s) => s.length, unit: "" }]);
  private readonly rates = new Chart("Items per second", [
    { name: "put", cls: "s-put", value: (s) => s.putRate, unit: "/s" },
    { name: "get", cls: "s-get", value: (s) => s.getRate, unit: "/s" },
  ]);

  constructor() {
    this.element = h(
      "div",
      {},
      h("div", { class: "charts" }, this.length.element, this.rates.element),
      h("p", { class: "hint" }, "Length: sampled every 2 s since this page opened. Rates: items put and got per second, in 5 s buckets counted by the server (the last point covers the last 5 to 10 s)."),
    );
  }

  /** A new sample: the length now, and the server's buckets `[startMs, put, got]`, oldest first, the last one current. */
  add(atMs: number, length: number, history: ReadonlyArray<readonly [number, number, number]>): void {
    this.lengths.push({ atMs, length, putRate: undefined, getRate: undefined });
    while (this.lengths.length > 0 && this.lengths[0]!.atMs < atMs - WINDOW_MS) this.lengths.shift();
    const fromMs = atMs - WINDOW_MS;
    this.length.draw(this.lengths, fromMs, atMs);
    this.rates.draw(rateSamples(history, atMs), fromMs, atMs);
  }
}

/**
 * One point per full bucket, at its end, and a last one now over the current bucket and the
 * one before it (a current bucket alone may be a fraction of a second old).
 */
function rateSamples(history: ReadonlyArray<readonly [number, number, number]>, atMs: number): Sample[] {
  const samples: Sample[] = [];
  for (let i = 0; i + 1 < history.length; i++) {
    const [start, put, got] = history[i]!;
    const end = history[i + 1]![0];
    const seconds = (end - start) / 1000;
    samples.push({ atMs: end, length: 0, putRate: put / seconds, getRate: got / seconds });
  }
  const last = history[history.length - 1];
  const before = history[history.length - 2];
  if (last !== undefined) {
    const start = before?.[0] ?? last[0];
    const seconds = Math.max(atMs - start, 1000) / 1000;
    samples.push({ atMs, length: 0, putRate: (last[1] + (before?.[1] ?? 0)) / seconds, getRate: (last[2] + (before?.[2] ?? 0)) / seconds });
  }
  return samples;
}
