// The seed's `crawl_pages`: for each URL, stop if the Dict holds "stop", else fetch the
// page, extract its links and `putMany` them onto the Queue.
//
// In the seed each spawned call runs in its own container and walks its URLs one by one;
// here a `Crawler` stands for a set of `concurrency` such containers: it runs that many
// lanes, each taking the next URL of the batches it was given. A Crawler runs inside a
// worker process (this file is that process's entry point: it connects to the Larder
// server and receives batches over IPC) or, in embedded mode, in the coordinator's process.

import { Agent, request } from "undici";
import { ClosedError, connect, LeaseExpiredError, NotFoundError } from "../../client/index.ts";
import type { Dict, Queue, Reservation, Store } from "../../client/index.ts";
import { isEntryPoint } from "./fork.ts";
import { GroupCall } from "./group-call.ts";
import { extractLinks } from "./links.ts";

export interface CrawlerOptions {
  /** Pages fetched at once: the number of "containers" this Crawler stands for. */
  concurrency: number;
  /** The seed's `requests.get(url, timeout=10)`. */
  fetchTimeoutMs: number;
  /** Print the seed's per-URL lines ("Crawled: ...", "Failed to crawl: ..."). */
  verbose: boolean;
  /**
   * Lanes share their Larder calls (group-call.ts): one `contains("stop")` and one
   * `putMany` in flight per worker, carrying every lane that asked meanwhile. false makes
   * one call per URL and per page, as the seed's code reads.
   */
  groupCalls: boolean;
  /**
   * Reserve mode: the lease of each URL reserved. Longer than a page can take (the fetch
   * timeout, then the put of its links), so that a live crawler's URL never comes back;
   * a dead crawler's URLs come back this long after it died.
   */
  leaseMs: number;
}

export const DEFAULT_CRAWLER_OPTIONS: CrawlerOptions = Object.freeze({
  concurrency: 64,
  fetchTimeoutMs: 10_000,
  verbose: false,
  groupCalls: true,
  leaseMs: 30_000,
});

/**
 * Links per grouped `putMany`: well under the default queuePartitionItemsMax (5,000), since
 * a putMany larger than a partition can hold is RequestSizeError. A group is about
 * (pages done per round trip) x 18 links, a few hundred at full speed.
 */
export const PUT_GROUP_LINKS_MAX = 1000;

export interface CrawlerStats {
  /** Pages requested that answered 200 and whose links were put. */
  crawled: number;
  /** URLs that failed: not 200, timeout, or a Larder error. */
  failed: number;
  /** URLs dropped because "stop" was set. */
  skipped: number;
  /** Links put onto the queue. */
  linksPut: number;
  /** Calls made to Larder: `contains("stop")` and `putMany`. */
  containsCalls: number;
  putManyCalls: number;
  /** Reserve mode: URLs reserved again after a lease ended (their crawler died, or was too slow). */
  redelivered: number;
  /** Reserve mode: `reserve` and `ack` calls, and acks refused because the lease had ended. */
  reserveCalls: number;
  ackCalls: number;
  lateAcks: number;
}

export function emptyStats(): CrawlerStats {
  return { crawled: 0, failed: 0, skipped: 0, linksPut: 0, containsCalls: 0, putManyCalls: 0, redelivered: 0, reserveCalls: 0, ackCalls: 0, lateAcks: 0 };
}

/**
 * Reserve mode: hands out one reservation per lane that asks. One `reserve` is in flight
 * at a time, for as many URLs as lanes are waiting, so a worker's lanes share their calls
 * as they do for `contains` and `putMany`, and no URL is reserved before a lane is free
 * for it (its lease runs only while it is being crawled). Answers undefined once the Queue
 * is gone (deleted at the end of the crawl) or its handle closed.
 */
class ReserveFeed {
  private readonly waiting: Array<(job: Reservation<string> | undefined) => void> = [];
  private busy = false;
  private ended = false;

  constructor(
    private readonly todo: Queue<string>,
    private readonly leaseMs: number,
    private readonly stats: CrawlerStats,
  ) {}

  next(): Promise<Reservation<string> | undefined> {
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      void this.fill();
    });
  }

  private async fill(): Promise<void> {
    if (this.busy || this.waiting.length === 0) return;
    this.busy = true;
    try {
      while (this.waiting.length > 0 && !this.ended) {
        let jobs: Array<Reservation<string>>;
        try {
          this.stats.reserveCalls++;
          jobs = await this.todo.reserve(this.waiting.length, { leaseMs: this.leaseMs });
        } catch (err) {
          if (err instanceof ClosedError || err instanceof NotFoundError) this.end();
          else await new Promise((r) => setTimeout(r, 200)); // the server away: try again
          continue;
        }
        for (const job of jobs) this.waiting.shift()!(job);
      }
    } finally {
      this.busy = false;
    }
  }

  private end(): void {
    this.ended = true;
    for (const resolve of this.waiting.splice(0)) resolve(undefined);
  }
}

interface Batch {
  q: Queue<string>;
  d: Dict<string, boolean>;
  urls: string[];
  next: number;
}

export class Crawler {
  readonly stats: CrawlerStats = emptyStats();
  private readonly agent: Agent;
  private readonly batches: Batch[] = [];
  private lanes = 0;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private readonly stopChecks = new WeakMap<Dict<string, boolean>, GroupCall<void, boolean>>();
  private readonly linkPuts = new WeakMap<Queue<string>, GroupCall<string[], void>>();
  /** Reserve mode: the work Queues consumed, closed by close() to end their lanes' waits. */
  private readonly consumed: Array<Queue<string>> = [];

  constructor(private readonly options: CrawlerOptions = DEFAULT_CRAWLER_OPTIONS) {
    // One keep-alive connection per lane; the synthetic web is a single origin.
    this.agent = new Agent({ connections: options.concurrency, keepAliveTimeout: 30_000 });
  }

  /** The seed's `crawl_pages.spawn(q, d, urls)`: returns at once, the work runs in lanes. */
  crawlPages(q: Queue<string>, d: Dict<string, boolean>, urls: readonly string[]): void {
    if (this.closed || urls.length === 0) return;
    this.batches.push({ q, d, urls: [...urls], next: 0 });
    // A lane that finds nothing to do ends at once, so start no more lanes than URLs.
    const start = Math.min(this.options.concurrency - this.lanes, urls.length);
    this.lanes += start;
    for (let i = 0; i < start; i++) void this.lane();
  }

  /**
   * Reserve mode: `concurrency` lanes reserve URLs from `todo`, crawl each (links onto `q`)
   * and ack it only then. Returns at once; the lanes run until `todo` is deleted or closed.
   */
  consume(q: Queue<string>, todo: Queue<string>, d: Dict<string, boolean>): void {
    if (this.closed) return;
    this.consumed.push(todo);
    const feed = new ReserveFeed(todo, this.options.leaseMs, this.stats);
    const acks = new GroupCall<Reservation<string>, void>((jobs) => this.ack(todo, jobs));
    this.lanes += this.options.concurrency;
    for (let i = 0; i < this.options.concurrency; i++) void this.reserveLane(q, d, feed, acks);
  }

  private async reserveLane(q: Queue<string>, d: Dict<string, boolean>, feed: ReserveFeed, acks: GroupCall<Reservation<string>, void>): Promise<void> {
    try {
      for (;;) {
        const job = await feed.next();
        if (job === undefined) break;
        if (job.deliveries > 1) this.stats.redelivered++;
        let stop: boolean;
        try {
          stop = await this.isStopped(d);
        } catch {
          stop = true; // the coordinator closed the Dict: the crawl is over
        }
        if (stop) this.stats.skipped++;
        else await this.crawlUrl(q, job.value);
        try {
          await acks.call(job);
        } catch {
          // The Queue is gone: the crawl is over, and the feed ends the lane next.
        }
      }
    } finally {
      this.laneEnded();
    }
  }

  /** Acks a group of URLs in one write; an ack refused because the lease ran out is counted, the URL is crawled again. */
  private async ack(todo: Queue<string>, jobs: Array<Reservation<string>>): Promise<void> {
    this.stats.ackCalls++;
    try {
      await todo.ack(jobs);
    } catch (err) {
      if (!(err instanceof LeaseExpiredError)) throw err;
      this.stats.lateAcks += err.refused.length;
    }
  }

  /** Resolves when no URL is pending or in flight. */
  idle(): Promise<void> {
    if (this.lanes === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops pending URLs, waits for those in flight, closes connections. */
  async close(): Promise<void> {
    this.closed = true;
    for (const batch of [...this.batches]) this.drop(batch);
    // Reserve mode: a lane waiting in reserve is released (its URLs, if any, come back when their leases end).
    await Promise.all(this.consumed.map((todo) => todo.close()));
    await this.idle();
    await this.agent.close();
  }

  private async lane(): Promise<void> {
    for (;;) {
      const batch = this.batches[0];
      if (batch === undefined) break;
      const url = batch.urls[batch.next++]!;
      if (batch.next === batch.urls.length) this.batches.shift();
      await this.crawlOne(batch, url);
    }
    this.laneEnded();
  }

  private laneEnded(): void {
    this.lanes--;
    if (this.lanes === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private async crawlOne(batch: Batch, url: string): Promise<void> {
    let stop: boolean;
    try {
      stop = await this.isStopped(batch.d);
    } catch {
      stop = true; // the coordinator closed the Dict: the crawl is over
    }
    if (stop) {
      this.stats.skipped++;
      for (const other of this.batches.filter((b) => b.d === batch.d)) this.drop(other);
      return;
    }
    await this.crawlUrl(batch.q, url);
  }

  /** Fetches a page and puts its links onto `q`; a failure (not 200, timeout, a Larder error) is counted, not thrown. */
  private async crawlUrl(q: Queue<string>, url: string): Promise<void> {
    const startMs = performance.now();
    try {
      const links = await this.extractLinks(url);
      if (this.options.verbose) {
        console.log(`Crawled: ${url} in ${(performance.now() - startMs).toFixed(1)} ms, with ${links.length} links`);
      }
      if (links.length > 0) await this.putLinks(q, links);
      this.stats.crawled++;
      this.stats.linksPut += links.length;
    } catch (err) {
      this.stats.failed++;
      if (this.options.verbose) console.error(`Failed to crawl: ${url} with error ${String(err)}, skipping...`);
    }
  }

  /** The seed's `"stop" in d`. */
  private isStopped(d: Dict<string, boolean>): Promise<boolean> {
    const contains = () => {
      this.stats.containsCalls++;
      return d.contains("stop");
    };
    if (!this.options.groupCalls) return contains();
    let group = this.stopChecks.get(d);
    if (group === undefined) {
      group = new GroupCall<void, boolean>(contains);
      this.stopChecks.set(d, group);
    }
    return group.call(undefined);
  }

  /** The seed's `q.put_many(links)`. */
  private putLinks(q: Queue<string>, links: string[]): Promise<void> {
    const putMany = (values: string[]) => {
      this.stats.putManyCalls++;
      return q.putMany(values);
    };
    if (!this.options.groupCalls) return putMany(links);
    let group = this.linkPuts.get(q);
    if (group === undefined) {
      group = new GroupCall<string[], void>((lists) => putMany(lists.flat()), (list) => list.length, PUT_GROUP_LINKS_MAX);
      this.linkPuts.set(q, group);
    }
    return group.call(links);
  }

  private drop(batch: Batch): void {
    this.stats.skipped += batch.urls.length - batch.next;
    batch.next = batch.urls.length;
    const at = this.batches.indexOf(batch);
    if (at >= 0) this.batches.splice(at, 1);
  }

  /** The seed's `extract_links`: GET with a timeout, fail on a non-200 status, parse. */
  private async extractLinks(url: string): Promise<string[]> {
    const response = await request(url, {
      dispatcher: this.agent,
      headersTimeout: this.options.fetchTimeoutMs,
      bodyTimeout: this.options.fetchTimeoutMs,
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`HTTP ${response.statusCode}`);
    }
    return extractLinks(await response.body.text(), url);
  }
}

// ---------------------------------------------------------------------------------------
// The worker process: one Crawler, a connection to the Larder server, batches over IPC.

/** Coordinator to worker. */
export type ToWorker =
  | { type: "crawl"; dictId: string; queueId: string; urls: string[] }
  | { type: "consume"; dictId: string; queueId: string; todoId: string }
  | { type: "finish" };

/** Worker to coordinator. */
export type FromWorker =
  | { type: "ready" }
  | { type: "progress"; stats: CrawlerStats }
  | { type: "finished"; stats: CrawlerStats }
  | { type: "error"; message: string };

export interface WorkerConfig extends CrawlerOptions {
  larderUrl: string;
}

/** The worker reads its config from this environment variable (JSON of WorkerConfig). */
export const WORKER_CONFIG_ENV = "LARDER_CRAWLER_WORKER";
const PROGRESS_INTERVAL_MS = 250;

async function runWorker(config: WorkerConfig): Promise<void> {
  const send = (message: FromWorker) =>
    new Promise<void>((resolve) => process.send!(message, undefined, undefined, () => resolve()));
  const store: Store = await connect(config.larderUrl);
  const crawler = new Crawler(config);
  const dicts = new Map<string, Promise<Dict<string, boolean>>>();
  const queues = new Map<string, Promise<Queue<string>>>();
  const handles = async (dictId: string, queueId: string) => {
    if (!dicts.has(dictId)) dicts.set(dictId, store.dicts.fromId<string, boolean>(dictId));
    if (!queues.has(queueId)) queues.set(queueId, store.queues.fromId<string>(queueId));
    return Promise.all([dicts.get(dictId)!, queues.get(queueId)!]);
  };
  const todos = new Map<string, Promise<Queue<string>>>();
  const progress = setInterval(() => void send({ type: "progress", stats: crawler.stats }), PROGRESS_INTERVAL_MS);
  process.on("message", (message: ToWorker) => {
    if (message.type === "crawl") {
      handles(message.dictId, message.queueId).then(
        ([d, q]) => crawler.crawlPages(q, d, message.urls),
        (err: unknown) => void send({ type: "error", message: `cannot open the crawl's Dict and Queue: ${String(err)}` }),
      );
    } else if (message.type === "consume") {
      if (!todos.has(message.todoId)) todos.set(message.todoId, store.queues.fromId<string>(message.todoId));
      Promise.all([handles(message.dictId, message.queueId), todos.get(message.todoId)!]).then(
        ([[d, q], todo]) => crawler.consume(q, todo, d),
        (err: unknown) => void send({ type: "error", message: `cannot open the crawl's Dict and Queues: ${String(err)}` }),
      );
    } else if (message.type === "finish") {
      clearInterval(progress);
      void (async () => {
        await crawler.close();
        await store.close();
        await send({ type: "finished", stats: crawler.stats });
        process.disconnect();
      })();
    }
  });
  // The coordinator went away without "finish": nothing left to do.
  process.on("disconnect", () => process.exit(0));
  await send({ type: "ready" });
}

if (process.send !== undefined && isEntryPoint(import.meta.url)) {
  const raw = process.env[WORKER_CONFIG_ENV];
  if (raw === undefined) throw new Error(`${WORKER_CONFIG_ENV} is not set`);
  runWorker(JSON.parse(raw) as WorkerConfig).catch((err: unknown) => {
    process.send!({ type: "error", message: String(err) } satisfies FromWorker);
    process.exit(1);
  });
}
