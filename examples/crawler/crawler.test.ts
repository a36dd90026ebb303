// The crawler is correct when it visits exactly the URLs reachable from the start page,
// fetches each one once, and ends by itself; with a URL limit it stops early, never
// visits what is unreachable, and still fetches nothing twice. Both ways of running it:
// embedded (one process, `open()`) and server (worker processes over HTTP).
//
// Reserve mode (`--reserve`, README "Reserve mode"): the same crawl through a work Queue
// that crawlers reserve from and ack; and a worker process SIGKILLed mid-crawl loses
// nothing: the URLs it held come back when their leases end, the other worker crawls them,
// and the visited set still equals the reachable set, every URL of it fetched.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { open } from "../../index.ts";
import { startServer } from "../../server/index.ts";
import { extractLinks } from "./links.ts";
import { runCrawl, type CrawlOptions, type CrawlReport } from "./main.ts";
import { pagePath, reachableFrom, renderPage, serveWeb, Web, type WebServer } from "./web.ts";

const PAGES = 2000;
const web = new Web({ pages: PAGES, seed: 7 });
const reachable = reachableFrom(web);
/** Every URL path a crawler with no limit takes off the queue: pages, and missing pages (404). */
const expectedPaths = new Set([...reachable.pages, ...reachable.missing]);

describe("the synthetic web", () => {
  test("the parser finds exactly the links the graph has, resolved to absolute URLs", () => {
    const origin = "http://127.0.0.1:8080";
    for (const id of [0, 1, 17, 999, 1000, 1999]) {
      const page = web.page(id)!;
      const url = origin + pagePath(id);
      const links = extractLinks(renderPage(web, page, origin), url);
      // The graph's links in order, then the page's own "#top" link.
      expect(links).toEqual([...page.links.map((to) => origin + pagePath(to)), url]);
    }
  });

  test("the parser reads every attribute style and skips what is not a page", () => {
    const html =
      `<a href="a.html">x</a><A HREF=/b.html>y</A><a class='c' href='../c.html#f'>z</a>` +
      `<abbr href="/no.html">n</abbr><a name="top"></a><a href="mailto:x@y.z">m</a>` +
      `<a href="javascript:void(0)">j</a><a\nhref = "/q?x=1&amp;y=2">q</a><a href="http://[bad">b</a>`;
    expect(extractLinks(html, "http://h.test/d/p.html")).toEqual([
      "http://h.test/d/a.html",
      "http://h.test/b.html",
      "http://h.test/c.html",
      "http://h.test/q?x=1&y=2",
    ]);
  });

  test("the parser resolves every href exactly as the URL parser does", () => {
    const hrefs = [
      "x.html", "./x.html", "a/b.html", "a//b.html", "../x.html", "a/../x.html", "./", "", "...", ".hidden",
      "/", "/x.html", "//other.test/x", "/a/./b", "/~u/x-y_z.html", "?q=1", "x.html?q=1", "#f", "x.html#f",
      "http://h.test/x.html", "http://h.test", "http://h.test:80/x", "HTTP://H.TEST/x", "http://h.test.evil/x",
      "https://h.test/x", "http://h.test/%41", "sp ace.html", "é.html", "a\\b.html", "ftp://h.test/x",
      "../../x.html", "../../../../x/y.html", "./../x.html", "..", "../", "../.", "../a/../b", ".././x", "x/",
    ];
    const html = hrefs.map((h) => `<a href="${h}">x</a>`).join("");
    const bases = ["http://h.test/d/p.html", "http://h.test/", "http://h.test/d/e/?q=1", "http://h.test/a%20b/p", "https://h.test/a/b/c/p"];
    for (const base of bases) {
      const expected = hrefs.flatMap((h) => {
        const url = new URL(h, base);
        url.hash = "";
        return url.protocol === "http:" || url.protocol === "https:" ? [url.href] : [];
      });
      expect(extractLinks(html, base)).toEqual(expected);
    }
  });

  test("the graph has what makes a crawl interesting", () => {
    expect(reachable.pages.size).toBeGreaterThan(PAGES * 0.9);
    expect(reachable.pages.size).toBeLessThan(PAGES); // orphan pages exist
    expect(reachable.missing.size).toBeGreaterThan(0); // broken links exist
    const slow = Array.from({ length: PAGES }, (_, id) => web.page(id)!).filter((p) => p.delayMs > 0);
    expect(slow.length).toBeGreaterThan(0);
  });
});

type Mode = "embedded" | "server";

describe.each<Mode>(["embedded", "server"])("crawl, %s", (mode) => {
  let folder: string;
  let server: WebServer;
  let cleanups: Array<() => Promise<void>>;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), "larder-crawler-test-"));
    server = await serveWeb(web);
    cleanups = [];
  });

  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await server.close();
    await rm(folder, { recursive: true, force: true });
  });

  async function crawl(maxUrls: number, options: Partial<CrawlOptions> = {}): Promise<CrawlReport> {
    let larder: CrawlOptions["larder"];
    if (mode === "embedded") {
      const store = await open({ path: folder });
      cleanups.push(() => store.close());
      larder = { store };
    } else {
      const larderServer = await startServer({ path: folder, port: 0 });
      cleanups.push(() => larderServer.close());
      larder = { url: larderServer.url };
    }
    return runCrawl({ startUrl: server.startUrl, maxUrls, workers: 2, larder, log: () => {}, ...options, crawler: { concurrency: 16, ...options.crawler } });
  }

  function visitedPaths(report: CrawlReport): Set<string> {
    return new Set([...report.visited].map((url) => new URL(url).pathname));
  }

  function fetchedMoreThanOnce(): string[] {
    return [...server.fetchCounts()].filter(([, n]) => n > 1).map(([path]) => path);
  }

  test("visits exactly the reachable URLs, fetches each once, and ends by itself", { timeout: 60_000 }, async () => {
    const report = await crawl(1_000_000);
    const visitedPaths = new Set([...report.visited].map((url) => new URL(url).pathname));
    expect(report.visited.size).toBe(visitedPaths.size); // one URL per page: no aliases
    expect(visitedPaths).toEqual(expectedPaths);
    expect(new Set(server.fetchCounts().keys())).toEqual(expectedPaths);
    expect(fetchedMoreThanOnce()).toEqual([]);
    expect(report.dispatched).toBe(expectedPaths.size);
    expect(report.crawlers).toMatchObject({ crawled: reachable.pages.size, failed: reachable.missing.size, skipped: 0 });
  });

  test("stops at maxUrls, visits only reachable URLs, fetches nothing twice", { timeout: 60_000 }, async () => {
    const maxUrls = 300;
    const report = await crawl(maxUrls);
    // As in the seed: crawl work is handed out only while `visited` is under max_urls;
    // past it, the Queue is drained (those URLs count as visited) until it stays empty.
    expect(report.dispatched).toBeLessThan(maxUrls);
    expect(report.visited.size).toBeGreaterThanOrEqual(maxUrls);
    for (const url of report.visited) expect(expectedPaths.has(new URL(url).pathname)).toBe(true);
    const fetched = server.fetchCounts();
    expect(fetched.size).toBeLessThanOrEqual(report.dispatched);
    for (const path of fetched.keys()) expect(report.visited.has(server.origin + path)).toBe(true);
    expect(fetchedMoreThanOnce()).toEqual([]);
    const { crawled, failed, skipped } = report.crawlers;
    expect(crawled + failed + skipped).toBe(report.dispatched);
  });

  test("reserve mode: visits exactly the reachable URLs, fetches each once, acks each", { timeout: 90_000 }, async () => {
    const report = await crawl(1_000_000, { reserve: true });
    expect(visitedPaths(report)).toEqual(expectedPaths);
    expect(new Set(server.fetchCounts().keys())).toEqual(expectedPaths);
    expect(fetchedMoreThanOnce()).toEqual([]);
    expect(report.dispatched).toBe(expectedPaths.size);
    expect(report.crawlers).toMatchObject({ crawled: reachable.pages.size, failed: reachable.missing.size, skipped: 0, redelivered: 0, lateAcks: 0 });
    // URLs are reserved and acked in groups: fewer calls than URLs.
    expect(report.crawlers.reserveCalls).toBeGreaterThan(0);
    expect(report.crawlers.ackCalls).toBeLessThanOrEqual(expectedPaths.size);
  });

  test.runIf(mode === "server")("reserve mode: a worker SIGKILLed mid-crawl loses nothing, every reachable page is still crawled", { timeout: 120_000 }, async () => {
    let killed: number | undefined;
    const report = await crawl(1_000_000, {
      reserve: true,
      // Short, so the dead worker's URLs come back within the test; far longer than a page of this web takes.
      crawler: { leaseMs: 3_000 },
      onStarted: (crawlers) => {
        const watch = setInterval(() => {
          const s = crawlers.stats();
          // A quarter into the crawl: both workers have URLs reserved and pages in flight.
          if (s.crawled + s.failed < expectedPaths.size / 4) return;
          clearInterval(watch);
          killed = crawlers.pids[0]!;
          process.kill(killed, "SIGKILL");
        }, 20);
        cleanups.push(async () => clearInterval(watch));
      },
    });
    expect(killed).toBeDefined();
    // The claim: the visited set is the reachable set, and every URL of it was fetched.
    expect(visitedPaths(report)).toEqual(expectedPaths);
    expect(new Set(server.fetchCounts().keys())).toEqual(expectedPaths);
    // The dead worker held URLs, and the survivor reserved them again.
    expect(report.crawlers.redelivered).toBeGreaterThan(0);
  });
});
