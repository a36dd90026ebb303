// The seed's crawler on Larder: `npm run crawl`. The default web (160,000 pages) has
// 203,282 URLs reachable from its start page (158,412 pages and 44,870 broken links), all
// under the default --max-urls, so the default run crawls all of it and every URL it
// counts was fetched, exactly once.
//
// By default it starts a Larder server on a temporary folder in a process of its own, a
// synthetic web in another, and `--workers` worker processes that connect to the server;
// this process is the coordinator. `--url` uses a running server instead; `--embedded`
// runs the coordinator and the crawlers in this process on `open()` (the web stays in
// its own process: it stands for the Internet).

import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect, open, type Durability, type Limits, type Store } from "../../index.ts";
import { scrape, type ScrapeResult } from "./coordinator.ts";
import { CpuMeter } from "./cpu.ts";
import { isEntryPoint } from "./fork.ts";
import { startLarderProcess, type LarderProcess } from "./larder-process.ts";
import { LocalCrawlers, WorkerPool, type CrawlerPool } from "./pool.ts";
import { reachableFrom, Web } from "./web.ts";
import { startWebProcess } from "./web-process.ts";
import { DEFAULT_CRAWLER_OPTIONS, PUT_GROUP_LINKS_MAX, type CrawlerOptions, type CrawlerStats } from "./worker.ts";

export interface CrawlOptions {
  startUrl: string;
  /** The seed's `max_urls`. */
  maxUrls: number;
  /** Worker processes (server mode) or Crawlers in this process (embedded mode). */
  workers: number;
  crawler?: Partial<CrawlerOptions>;
  /** Embedded: the coordinator and crawlers share this store. Server: both connect to this URL. */
  larder: { store: Store } | { url: string };
  /** The seed's 5 s; the crawl ends when the Queue stays empty this long. */
  getTimeoutMs?: number;
  /** Other processes whose CPU time the report should include, by name. */
  cpuOf?: Record<string, number[]>;
  /**
   * Reserve mode: crawlers `reserve` URLs from a work Queue and `ack` each after its links
   * are put, so a crawler that dies mid-crawl loses nothing (coordinator.ts, worker.ts).
   */
  reserve?: boolean;
  /** Called once the crawlers run, with their process ids (server mode) and counters: tests kill workers with it. */
  onStarted?: (crawlers: { readonly pids: number[]; stats(): CrawlerStats }) => void;
  /** Progress lines this often (0: none). */
  progressIntervalMs?: number;
  log?: (line: string) => void;
}

export interface CrawlReport extends ScrapeResult {
  crawlers: CrawlerStats;
  /** CPU ms spent during the crawl, per process group (where it can be read). */
  cpuMs: Record<string, number>;
}

/** Starts the crawlers, runs the seed's coordinator loop, stops the crawlers. */
export async function runCrawl(options: CrawlOptions): Promise<CrawlReport> {
  const crawlerOptions: CrawlerOptions = { ...DEFAULT_CRAWLER_OPTIONS, ...options.crawler };
  const log = options.log ?? ((line: string) => console.log(line));
  let store: Store;
  let pool: CrawlerPool;
  if ("store" in options.larder) {
    store = options.larder.store;
    pool = new LocalCrawlers(options.workers, crawlerOptions);
  } else {
    // Workers start (connect, load code) before the clock does: they are the warm containers.
    pool = await WorkerPool.start(options.workers, { ...crawlerOptions, larderUrl: options.larder.url });
    try {
      store = await connect(options.larder.url);
    } catch (err) {
      await pool.close();
      throw err;
    }
  }
  options.onStarted?.(pool);
  const cpu = new CpuMeter({ coordinator: [process.pid], ...(pool.pids.length > 0 ? { workers: pool.pids } : {}), ...options.cpuOf });
  cpu.start();
  const startMs = performance.now();
  const progress =
    (options.progressIntervalMs ?? 0) > 0
      ? setInterval(() => {
          const s = pool.stats();
          const seconds = (performance.now() - startMs) / 1000;
          log(`  ${seconds.toFixed(1)} s: ${s.crawled + s.failed} pages fetched, ${Math.round((s.crawled + s.failed) / seconds)} pages/s`);
        }, options.progressIntervalMs)
      : undefined;
  let result: ScrapeResult;
  let crawlers: CrawlerStats;
  let cpuMs: Record<string, number>;
  try {
    result = await scrape(store, options.startUrl, {
      maxUrls: options.maxUrls,
      spawn: (q, d, urls) => pool.spawn(q, d, urls),
      ...(options.reserve === true ? { consumers: (q, todo, d) => pool.consume(q, todo, d) } : {}),
      ...(options.getTimeoutMs === undefined ? {} : { getTimeoutMs: options.getTimeoutMs }),
    });
  } finally {
    clearInterval(progress);
    cpuMs = cpu.stop();
    crawlers = await pool.close();
    if (!("store" in options.larder)) await store.close();
  }
  return { ...result, crawlers, cpuMs };
}

const USAGE = `usage: npm run crawl -- [options]
  --pages N          pages in the synthetic web (default 160000: 203,282 reachable URLs)
  --max-urls N       the seed's max_urls (default 1000000)
  --workers N        worker processes, or crawlers in-process with --embedded (default 2)
  --concurrency N    pages fetched at once per worker (default ${DEFAULT_CRAWLER_OPTIONS.concurrency})
  --embedded         run the store (open()), coordinator and crawlers in this process
  --url URL          use a running Larder server instead of starting one
  --memory           the store (embedded or started server) keeps nothing on disk
  --durability D     fsync | buffered, for the store this program opens (default fsync)
  --queue-items N    queuePartitionItemsMax for the store this program opens (default 5000, at least 1000)
  --reserve          crawlers reserve URLs from a work Queue and ack each after crawling it:
                     a crawler that dies loses nothing (its URLs come back after --lease-ms)
  --lease-ms N       the lease of each reserved URL (default ${DEFAULT_CRAWLER_OPTIONS.leaseMs})
  --per-url-calls    one contains("stop") per URL and one putMany per page, as the seed's
                     code reads (default: each worker groups the calls of its lanes)
  --seed N           seed of the synthetic web (default 1)
  --check            compare the visited set with the pages reachable from the start page
  --verbose          print the seed's per-URL lines`;

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: {
      pages: { type: "string", default: "160000" },
      "max-urls": { type: "string", default: "1000000" },
      workers: { type: "string", default: "2" },
      concurrency: { type: "string", default: String(DEFAULT_CRAWLER_OPTIONS.concurrency) },
      embedded: { type: "boolean", default: false },
      url: { type: "string" },
      memory: { type: "boolean", default: false },
      durability: { type: "string", default: "fsync" },
      "queue-items": { type: "string" },
      "per-url-calls": { type: "boolean", default: false },
      reserve: { type: "boolean", default: false },
      "lease-ms": { type: "string", default: String(DEFAULT_CRAWLER_OPTIONS.leaseMs) },
      seed: { type: "string", default: "1" },
      check: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (flags.help) return console.log(USAGE);
  const count = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${value}\n${USAGE}`);
    return n;
  };
  const pages = count("pages", flags.pages);
  const seed = count("seed", flags.seed);
  const durability = flags.durability as Durability;
  if (durability !== "fsync" && durability !== "buffered") throw new Error(`--durability must be fsync or buffered\n${USAGE}`);
  const queueItems = flags["queue-items"] === undefined ? undefined : count("queue-items", flags["queue-items"]);
  if (queueItems !== undefined && queueItems < PUT_GROUP_LINKS_MAX) {
    throw new Error(`--queue-items must be at least ${PUT_GROUP_LINKS_MAX}: a worker's grouped putMany carries up to that many links`);
  }
  const limits: Partial<Limits> = queueItems === undefined ? {} : { queuePartitionItemsMax: queueItems };

  const web = await startWebProcess({ pages, seed });
  const folder = flags.memory || flags.url !== undefined ? undefined : await mkdtemp(join(tmpdir(), "larder-crawl-"));
  if (folder !== undefined) {
    // Ctrl-C reaches the child processes too; leave no temporary folder behind.
    process.once("SIGINT", () => {
      rmSync(folder, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const storage = folder === undefined ? { memory: true } : { path: folder };
  let server: LarderProcess | undefined;
  let store: Store | undefined;
  try {
    let larder: CrawlOptions["larder"];
    if (flags.embedded) {
      store = await open({ ...storage, durability, limits });
      larder = { store };
    } else if (flags.url !== undefined) {
      larder = { url: flags.url };
    } else {
      server = await startLarderProcess({ ...storage, durability, limits });
      larder = { url: server.url };
    }
    const mode = flags.embedded ? "embedded" : flags.url !== undefined ? `server ${flags.url}` : `server ${server!.url}`;
    console.log(`crawling ${web.startUrl} (${pages} pages), max_urls ${flags["max-urls"]}, ${flags.workers} workers, ${mode}${flags.reserve ? ", reserve mode" : ""}`);
    const report = await runCrawl({
      startUrl: web.startUrl,
      maxUrls: count("max-urls", flags["max-urls"]),
      workers: count("workers", flags.workers),
      crawler: {
        concurrency: count("concurrency", flags.concurrency),
        verbose: flags.verbose,
        groupCalls: !flags["per-url-calls"],
        leaseMs: count("lease-ms", flags["lease-ms"]),
      },
      reserve: flags.reserve,
      larder,
      cpuOf: { web: [web.pid], ...(server === undefined ? {} : { "Larder server": [server.pid] }) },
      progressIntervalMs: 1000,
    });
    const seconds = report.elapsedMs / 1000;
    const c = report.crawlers;
    const fetched = c.crawled + c.failed;
    console.log(`Crawled ${report.visited.size} URLs in ${seconds.toFixed(2)} seconds`);
    console.log(
      `  ${Math.round(report.visited.size / seconds)} URLs/s. URLs dispatched to workers ${report.dispatched}: ` +
        `${c.crawled} crawled, ${c.failed} failed (404 or error), ${c.skipped} skipped after stop. ` +
        `${fetched} fetched at ${Math.round(fetched / (report.activeMs / 1000))}/s until the last URL came at ` +
        `${(report.activeMs / 1000).toFixed(2)} s; then the seed's 5 s wait for an empty queue`,
    );
    console.log(
      `  Larder calls: ${report.batches} getMany by the coordinator (${Math.round(c.linksPut / report.batches)} URLs each), ` +
        `${c.containsCalls} contains("stop") and ${c.putManyCalls} putMany (${Math.round(c.linksPut / c.putManyCalls)} links each) by the crawlers`,
    );
    if (flags.reserve) {
      console.log(`  reserve mode: ${c.reserveCalls} reserve and ${c.ackCalls} ack calls by the crawlers; ${c.redelivered} URLs redelivered, ${c.lateAcks} acks after a lease ended`);
    }
    const cpuTotalMs = Object.values(report.cpuMs).reduce((a, b) => a + b, 0);
    const cpuParts = Object.entries(report.cpuMs).map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)}`);
    console.log(`  CPU seconds: ${cpuParts.join(", ")}; ${Math.round((cpuTotalMs * 1000) / Math.max(1, fetched))} µs per page fetched`);
    const webStats = await web.stats();
    console.log(`  web: ${webStats.fetches} requests, ${webStats.paths} distinct paths, ${webStats.refetched} fetched more than once`);
    if (flags.check) check(new Web({ pages, seed }), web.origin, report);
  } finally {
    await store?.close();
    await server?.close();
    await web.close();
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  }
}

/** Prints how the visited set compares with the URLs reachable from the start page. */
function check(web: Web, origin: string, report: CrawlReport): void {
  const reachable = reachableFrom(web);
  const expected = new Set([...reachable.pages, ...reachable.missing]);
  const visitedPaths = new Set([...report.visited].map((url) => url.slice(origin.length)));
  let unreachable = 0;
  for (const path of visitedPaths) if (!expected.has(path)) unreachable++;
  let unvisited = 0;
  for (const path of expected) if (!visitedPaths.has(path)) unvisited++;
  console.log(
    `  check: ${expected.size} URLs reachable (${reachable.pages.size} pages, ${reachable.missing.size} missing); ` +
      `visited ${report.visited.size}: ${unreachable} not reachable (must be 0), ${unvisited} reachable ones not visited ` +
      `(must be 0 unless max_urls stopped the crawl)`,
  );
}

if (isEntryPoint(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
