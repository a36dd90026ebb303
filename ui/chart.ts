// The queue page's live chart: samples of the queue's length and of its put and get rates,
// drawn as SVG lines over the last WINDOW_MS (since the page opened, until it has been open
// that long). Rates are the differences of the server's
// counters (`queue/counters`) between two samples, per second of the server's clock.

import { h } from "./dom.ts";

export const WINDOW_MS = 5 * 60_000;
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 120;

export interface Sample {
  atMs: number;
  length: number;
  /** Items per second since the sample before; undefined for the first. */
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

  /** Draws the samples from `fromMs` (the oldest kept, at most WINDOW_MS ago) to `nowMs` across the whole width. */
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

/** The two charts of a queue page (length; put and get rates) over one list of samples. */
export class QueueCharts {
  readonly element: HTMLElement;
  private readonly samples: Sample[] = [];
  private readonly length = new Chart("Items in the queue", [{ name: "length", cls: "s-length", value: (s) => s.length, unit: "" }]);
  private readonly rates = new Chart("Items per second", [
    { name: "put", cls: "s-put", value: (s) => s.putRate, unit: "/s" },
    { name: "get", cls: "s-get", value: (s) => s.getRate, unit: "/s" },
  ]);
  private last: { atMs: number; putItems: number; gotItems: number } | undefined;

  constructor() {
    this.element = h("div", { class: "charts" }, this.length.element, this.rates.element);
  }

  add(atMs: number, length: number, putItems: number, gotItems: number): void {
    const before = this.last;
    const seconds = before === undefined ? 0 : (atMs - before.atMs) / 1000;
    // Counters only grow; a smaller one means the server restarted and counts from zero.
    const fresh = before === undefined || seconds <= 0 || putItems < before.putItems || gotItems < before.gotItems;
    this.samples.push({
      atMs,
      length,
      putRate: fresh ? undefined : (putItems - before.putItems) / seconds,
      getRate: fresh ? undefined : (gotItems - before.gotItems) / seconds,
    });
    this.last = { atMs, putItems, gotItems };
    while (this.samples.length > 0 && this.samples[0]!.atMs < atMs - WINDOW_MS) this.samples.shift();
    // Until the page has been open for WINDOW_MS, the samples it has fill the width.
    const fromMs = this.samples[0]!.atMs;
    this.length.draw(this.samples, fromMs, atMs);
    this.rates.draw(this.samples, fromMs, atMs);
  }
}
