// Where crawl work runs. `WorkerPool` forks worker processes (the seed's containers) that
// connect to the Larder server by URL; `LocalCrawlers` runs the same Crawlers inside this
// process, for embedded mode, where only one process may open the store.

import type { ChildProcess } from "node:child_process";
import type { Dict, Queue } from "../../client/index.ts";
import { firstMessage, forkTypeScript, siblingPath } from "./fork.ts";
import {
  Crawler,
  emptyStats,
  WORKER_CONFIG_ENV,
  type CrawlerOptions,
  type CrawlerStats,
  type FromWorker,
  type ToWorker,
  type WorkerConfig,
} from "./worker.ts";

export interface CrawlerPool {
  /** The seed's `crawl_pages.spawn`: spreads `urls` over the crawlers and returns at once. */
  spawn(q: Queue<string>, d: Dict<string, boolean>, urls: string[]): void;
  /** Reserve mode: every crawler consumes the work Queue `todo` (worker.ts `Crawler.consume`). */
  consume(q: Queue<string>, todo: Queue<string>, d: Dict<string, boolean>): void;
  /** Sum of the crawlers' counters so far. */
  stats(): CrawlerStats;
  /** Stops the crawlers (pending URLs are dropped) and returns their final counters. */
  close(): Promise<CrawlerStats>;
  /** Process ids of the crawlers, when they run in processes of their own. */
  readonly pids: number[];
}

function sumStats(all: CrawlerStats[]): CrawlerStats {
  const total = emptyStats();
  for (const s of all) for (const key of Object.keys(total) as Array<keyof CrawlerStats>) total[key] += s[key];
  return total;
}

/** Cuts `urls` into `parts` nearly equal slices, skipping empty ones. */
function* split(urls: string[], parts: number): Generator<[number, string[]]> {
  const size = Math.ceil(urls.length / parts);
  for (let i = 0; i < parts && i * size < urls.length; i++) yield [i, urls.slice(i * size, (i + 1) * size)];
}

/** Crawlers in this process (embedded mode). */
export class LocalCrawlers implements CrawlerPool {
  private readonly crawlers: Crawler[];
  private rotation = 0;
  readonly pids: number[] = [];

  constructor(count: number, options: CrawlerOptions) {
    this.crawlers = Array.from({ length: count }, () => new Crawler(options));
  }

  spawn(q: Queue<string>, d: Dict<string, boolean>, urls: string[]): void {
    const n = this.crawlers.length;
    for (const [i, part] of split(urls, n)) this.crawlers[(i + this.rotation) % n]!.crawlPages(q, d, part);
    this.rotation++;
  }

  consume(q: Queue<string>, todo: Queue<string>, d: Dict<string, boolean>): void {
    for (const crawler of this.crawlers) crawler.consume(q, todo, d);
  }

  stats(): CrawlerStats {
    return sumStats(this.crawlers.map((c) => c.stats));
  }

  async close(): Promise<CrawlerStats> {
    await Promise.all(this.crawlers.map((c) => c.close()));
    return this.stats();
  }
}

const WORKER_PATH = siblingPath("worker.ts");

interface WorkerProcess {
  child: ChildProcess;
  stats: CrawlerStats;
  finished: Promise<CrawlerStats>;
}

/** Worker processes connected to a Larder server. */
export class WorkerPool implements CrawlerPool {
  private rotation = 0;

  readonly pids: number[];

  private constructor(private readonly workers: WorkerProcess[]) {
    this.pids = workers.map((w) => w.child.pid!);
  }

  /** Forks `count` workers and waits until each has connected to the server. */
  static async start(count: number, config: WorkerConfig): Promise<WorkerPool> {
    const started = await Promise.allSettled(Array.from({ length: count }, () => startWorker(config)));
    const workers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failure = started.find((s) => s.status === "rejected");
    if (failure !== undefined) {
      await new WorkerPool(workers).close();
      throw failure.reason;
    }
    return new WorkerPool(workers);
  }

  spawn(q: Queue<string>, d: Dict<string, boolean>, urls: string[]): void {
    const n = this.workers.length;
    for (const [i, part] of split(urls, n)) {
      const message: ToWorker = { type: "crawl", dictId: d.id, queueId: q.id, urls: part };
      this.workers[(i + this.rotation) % n]!.child.send(message);
    }
    this.rotation++;
  }

  consume(q: Queue<string>, todo: Queue<string>, d: Dict<string, boolean>): void {
    const message: ToWorker = { type: "consume", dictId: d.id, queueId: q.id, todoId: todo.id };
    for (const w of this.workers) if (w.child.connected) w.child.send(message);
  }

  stats(): CrawlerStats {
    return sumStats(this.workers.map((w) => w.stats));
  }

  async close(): Promise<CrawlerStats> {
    for (const w of this.workers) if (w.child.connected) w.child.send({ type: "finish" } satisfies ToWorker);
    return sumStats(await Promise.all(this.workers.map((w) => w.finished)));
  }
}

async function startWorker(config: WorkerConfig): Promise<WorkerProcess> {
  const child = forkTypeScript(WORKER_PATH, { [WORKER_CONFIG_ENV]: JSON.stringify(config) });
  const worker: WorkerProcess = { child, stats: emptyStats(), finished: undefined! };
  worker.finished = new Promise<CrawlerStats>((resolve) => {
    child.on("message", (message: FromWorker) => {
      if (message.type === "progress" || message.type === "finished") worker.stats = message.stats;
      else if (message.type === "error") console.error(`crawler worker ${child.pid}: ${message.message}`);
    });
    child.on("exit", () => resolve(worker.stats));
    // A message sent to a worker that died (a test kills one) fails here, not in the coordinator.
    child.on("error", (err) => console.error(`crawler worker ${child.pid}: ${err.message}`));
  });
  const first = await firstMessage<FromWorker>(child, `crawler worker ${child.pid}`);
  if (first.type !== "ready") {
    child.kill();
    throw new Error(`crawler worker ${child.pid} failed to start: ${first.type === "error" ? first.message : first.type}`);
  }
  return worker;
}
