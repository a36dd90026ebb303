// The synthetic web the crawler crawls: a deterministic graph of `pages` HTML pages, served
// over HTTP on loopback. Nothing of the graph is stored: the links of page `id` are drawn
// from a PRNG seeded with (seed, id), so the server renders a page and `reachableFrom`
// walks the graph from the same numbers, in constant memory per page.
//
// Shape, chosen to look like real sites to a crawler:
// - Page 0 is the start page `/`; page `id` lives at `/d<id / 1000>/<id>.html`, so pages
//   close in id share a folder and link to each other with relative hrefs.
// - Fan-out: 5 to 40 links per page (mean about 17), with a long tail of 3% of pages
//   carrying 40 to 150 links; every page also links home.
// - Targets: mostly neighbours (local navigation), then uniform picks (the links that
//   make almost every page reachable), then a few hundred hub pages that everyone links to.
// - A small fraction of links points past the last page: the server answers 404.
// - A small fraction of pages is never linked to: they exist but cannot be reached.
// - A small fraction of pages is slow: the server waits before answering.
// - Hrefs come in every common form: `x.html`, `./x.html`, `../d7/x.html`, `/d7/x.html`,
//   `http://127.0.0.1:port/d7/x.html`, some with `#fragment`, plus anchors that a crawler
//   must skip (`mailto:`, `javascript:`, `<a name>` without href) and a self link `#top`.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface WebOptions {
  /** Pages in the graph; ids 0 .. pages - 1. */
  pages: number;
  /** Seeds the PRNG; the same (pages, seed) is the same web. Default 1. */
  seed?: number;
  /** Probability that a link points to a missing page (404). Default 0.02. */
  brokenLinkFraction?: number;
  /** Share of pages no link points to (unreachable from the start page). Default 0.01. */
  orphanPageFraction?: number;
  /** Probability that a page answers late. Default 0.01. */
  slowPageFraction?: number;
  /** A slow page waits between 10 ms and this long. Default 200. */
  slowPageDelayMsMax?: number;
}

/** Pages per folder: neighbours in id share a folder, so relative hrefs are common. */
const PAGES_PER_FOLDER = 1000;
/** Hub pages (ids below this) draw a share of all links, like a site's popular pages. */
const HUB_PAGES = 500;
/** The long tail: this share of pages has many links. */
const LONG_TAIL_FRACTION = 0.03;
const LONG_TAIL_LINKS_MAX = 150;
const FAN_OUT_MIN = 5;
const FAN_OUT_MAX = 40;

export interface Page {
  id: number;
  /** Target ids, in page order; ids >= pages are missing pages. */
  links: number[];
  /** 0 for a normal page. */
  delayMs: number;
}

export class Web {
  readonly pages: number;
  readonly seed: number;
  readonly brokenLinkFraction: number;
  readonly orphanPageFraction: number;
  readonly slowPageFraction: number;
  readonly slowPageDelayMsMax: number;

  constructor(options: WebOptions) {
    if (!Number.isInteger(options.pages) || options.pages < 1) throw new RangeError("pages must be a positive integer");
    this.pages = options.pages;
    this.seed = options.seed ?? 1;
    this.brokenLinkFraction = options.brokenLinkFraction ?? 0.02;
    this.orphanPageFraction = options.orphanPageFraction ?? 0.01;
    this.slowPageFraction = options.slowPageFraction ?? 0.01;
    this.slowPageDelayMsMax = options.slowPageDelayMsMax ?? 200;
  }

  /** The page with this id, or undefined when id is not a page (a broken link's target). */
  page(id: number): Page | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.pages) return undefined;
    const random = prng(this.seed, id);
    const delayMs = random() < this.slowPageFraction ? 10 + Math.floor(random() * (this.slowPageDelayMsMax - 10)) : 0;
    const links = [0];
    const fanOut = this.fanOut(random);
    for (let i = 0; i < fanOut; i++) links.push(this.target(id, random));
    return { id, links, delayMs };
  }

  private fanOut(random: () => number): number {
    if (random() < LONG_TAIL_FRACTION) return FAN_OUT_MAX + Math.floor(random() * (LONG_TAIL_LINKS_MAX - FAN_OUT_MAX));
    // Exponential above the minimum, cut at the maximum: most pages have 5 to 20 links.
    return Math.min(FAN_OUT_MAX, FAN_OUT_MIN + Math.floor(-Math.log(1 - random()) * 10));
  }

  /** True for pages that exist but no page links to. Page 0 is never one. */
  isOrphan(id: number): boolean {
    return id > 0 && id < this.pages && prng(this.seed ^ 0x2545f491, id)() < this.orphanPageFraction;
  }

  private target(from: number, random: () => number): number {
    const n = this.pages;
    if (random() < this.brokenLinkFraction) return n + Math.floor(random() * n);
    const kind = random();
    let to: number;
    if (kind < 0.45) to = Math.min(n - 1, Math.max(0, from + Math.floor(random() * 61) - 30));
    else if (kind < 0.85) to = Math.floor(random() * n);
    else {
      // Hubs: squared uniform puts most weight on the first few.
      const u = random();
      to = Math.floor(u * u * Math.min(HUB_PAGES, n));
    }
    // A link that would reach an orphan goes to the next page instead (or past the end: 404).
    while (this.isOrphan(to)) to++;
    return to;
  }
}

/** The path of page (or missing page) `id`. */
export function pagePath(id: number): string {
  return id === 0 ? "/" : `/d${Math.floor(id / PAGES_PER_FOLDER)}/${id}.html`;
}

const PATH_PATTERN = /^\/d(\d+)\/(\d+)\.html$/;

/** The id a path names (missing pages included), or undefined for any other path. */
export function pageId(path: string): number | undefined {
  if (path === "/") return 0;
  const match = PATH_PATTERN.exec(path);
  if (match === null) return undefined;
  const id = Number(match[2]);
  return id > 0 && Math.floor(id / PAGES_PER_FOLDER) === Number(match[1]) ? id : undefined;
}

/**
 * The href page `from` uses to link to `to`: relative or absolute, sometimes with a
 * fragment. `origin` is "http://host:port". Every form resolves to `origin + pagePath(to)`.
 */
function href(from: number, to: number, origin: string, random: () => number): string {
  const form = random();
  const fragment = random() < 0.05 ? "#section-2" : "";
  if (to === 0) return (form < 0.5 ? "/" : `${origin}/`) + fragment;
  const toPath = pagePath(to);
  const sameFolder = from !== 0 && Math.floor(from / PAGES_PER_FOLDER) === Math.floor(to / PAGES_PER_FOLDER);
  const file = `${to}.html`;
  if (sameFolder && form < 0.5) return file + fragment;
  if (sameFolder && form < 0.7) return `./${file}${fragment}`;
  if (form < 0.4) return toPath + fragment;
  if (form < 0.7 && from !== 0) return `..${toPath}${fragment}`;
  return origin + toPath + fragment;
}

const FILLER =
  "Larder keeps Dicts and Queues on disk. This page is part of a synthetic web used to " +
  "measure a crawler: its links were drawn from a seeded random graph.";

/** The HTML of a page, as served at `origin`. Deterministic for a given (web, id, origin). */
export function renderPage(web: Web, page: Page, origin: string): string {
  // A second stream for presentation, so that hrefs vary without changing the graph.
  const random = prng(web.seed ^ 0x5bd1e995, page.id);
  const parts: string[] = [
    `<!doctype html><html><head><meta charset="utf-8"><title>Page ${page.id}</title></head><body>`,
    `<a name="top"></a><h1>Page ${page.id}</h1><p>${FILLER}</p><ul>`,
  ];
  for (let i = 0; i < page.links.length; i++) {
    const to = page.links[i]!;
    const h = href(page.id, to, origin, random);
    // Attribute styles vary the way real markup does.
    const style = random();
    if (style < 0.8) parts.push(`<li><a href="${h}">Page ${to}</a></li>`);
    else if (style < 0.9) parts.push(`<li><a class="x" href='${h}' title="p">Page ${to}</a></li>`);
    else parts.push(`<li><A HREF=${h}>Page ${to}</A></li>`);
  }
  parts.push(
    `</ul><p><a href="mailto:pages@example.invalid">mail</a> <a href="javascript:void(0)">js</a> `,
    `<a href="#top">top</a></p></body></html>`,
  );
  return parts.join("");
}

export interface Reachable {
  /** Paths of pages reachable from the start page. */
  pages: Set<string>;
  /** Paths of missing pages linked from reachable pages (each is fetched once, answers 404). */
  missing: Set<string>;
}

/** Breadth-first walk from page 0: what a correct crawler with no URL limit visits. */
export function reachableFrom(web: Web): Reachable {
  const seen = new Uint8Array(web.pages);
  const missing = new Set<number>();
  const order: number[] = [0];
  seen[0] = 1;
  for (let head = 0; head < order.length; head++) {
    for (const to of web.page(order[head]!)!.links) {
      if (to >= web.pages) missing.add(to);
      else if (seen[to] === 0) {
        seen[to] = 1;
        order.push(to);
      }
    }
  }
  return { pages: new Set(order.map(pagePath)), missing: new Set([...missing].map(pagePath)) };
}

export interface WebServer {
  /** "http://127.0.0.1:<port>" */
  readonly origin: string;
  /** The start page's URL. */
  readonly startUrl: string;
  /** Requests per path so far, 404s included. */
  fetchCounts(): Map<string, number>;
  /** Total requests answered so far. */
  fetches(): number;
  close(): Promise<void>;
}

/** Serves `web` on 127.0.0.1 at a free port (or `port`). */
export async function serveWeb(web: Web, options: { port?: number } = {}): Promise<WebServer> {
  const counts = new Map<string, number>();
  let total = 0;
  let origin = "";
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0]!;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    total++;
    const id = pageId(path);
    const page = id === undefined ? undefined : web.page(id);
    if (page === undefined) {
      res.writeHead(404, { "content-type": "text/plain", "content-length": "10" });
      res.end("not found\n");
      return;
    }
    const body = Buffer.from(renderPage(web, page, origin));
    const send = () => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": String(body.length) });
      res.end(body);
    };
    if (page.delayMs > 0) setTimeout(send, page.delayMs);
    else send();
  });
  // Crawlers keep connections open between batches.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    startUrl: `${origin}/`,
    fetchCounts: () => new Map(counts),
    fetches: () => total,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** mulberry32 over a seed mixed from (seed, id): fast, and good enough for a test graph. */
function prng(seed: number, id: number): () => number {
  let state = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(id + 0x632be5ab, 0xc2b2ae35);
  state ^= state >>> 16;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
