// The seed's `scrape(url)`, line for line: an ephemeral Dict (the kill switch) and an
// ephemeral Queue (URLs to crawl); take up to 2,000 URLs at a time, waiting at most 5 s;
// the URLs not seen before join `visited` and go to crawlers while `visited` is under
// `maxUrls`; past it, the Dict gets "stop" and the loop drains the Queue until it stays
// empty for 5 s. As in the seed, `visited` counts every distinct URL taken off the Queue,
// so it can end above `maxUrls` by what was already in flight.

import { QueueEmptyError, type Dict, type Queue, type Store } from "../../client/index.ts";

/** The seed's `crawl_pages.spawn(q, d, urls)`: hands URLs to crawlers and returns at once. */
export type SpawnCrawl = (q: Queue<string>, d: Dict<string, boolean>, urls: string[]) => void;

/**
 * Reserve mode (`--reserve`): starts the crawlers on a second Queue, `todo`, from which they
 * `reserve` URLs and `ack` each one after its page's links are on `q`. Returns at once.
 */
export type StartConsumers = (q: Queue<string>, todo: Queue<string>, d: Dict<string, boolean>) => void;

export interface ScrapeOptions {
  /** The seed's `max_urls`. */
  maxUrls: number;
  spawn: SpawnCrawl;
  /** The seed's `get_many(2000, ...)`. */
  batchSize?: number;
  /** The seed's `timeout=5`: the crawl ends when the Queue stays empty this long. */
  getTimeoutMs?: number;
  /**
   * Reserve mode: new URLs go onto a work Queue that the crawlers reserve from, instead of
   * to `spawn`; a URL whose crawler dies comes back when its lease ends and is crawled by
   * another. The crawl ends when `q` stays empty and every URL of `todo` is acked.
   */
  consumers?: StartConsumers;
  /** Called after each batch, for progress lines. */
  onBatch?: (state: { visited: number; dispatched: number; stopped: boolean }) => void;
}

export interface ScrapeResult {
  /** Every distinct URL taken off the Queue, in order of arrival. */
  visited: Set<string>;
  /** URLs handed to crawlers (each one once). */
  dispatched: number;
  /** `getMany` calls that returned URLs. */
  batches: number;
  /** From start to the end of the loop, as the seed measures it. */
  elapsedMs: number;
  /** From start to the last batch that had a URL: the crawl without the final 5 s wait. */
  activeMs: number;
}

/** The seed's `new_urls = set(next_urls) - visited; visited |= new_urls`, in order of arrival. */
function addNew(visited: Set<string>, urls: readonly string[]): string[] {
  const added: string[] = [];
  for (const url of urls) {
    if (visited.has(url)) continue;
    visited.add(url);
    added.push(url);
  }
  return added;
}

export async function scrape(store: Store, url: string, options: ScrapeOptions): Promise<ScrapeResult> {
  if (options.consumers !== undefined) return scrapeReserving(store, url, options, options.consumers);
  const { maxUrls, spawn, batchSize = 2000, getTimeoutMs = 5000 } = options;
  const startMs = performance.now();
  let lastBatchMs = startMs;
  // The Dict signals the crawlers to stop; the Queue holds the URLs found.
  await using d = await store.dicts.ephemeral<string, boolean>();
  await using q = await store.queues.ephemeral<string>();
  await q.put(url);

  const visited = new Set<string>();
  let dispatched = 0;
  let batches = 0;
  let stopped = false;
  for (;;) {
    let nextUrls: string[];
    try {
      nextUrls = await q.getMany(batchSize, { timeoutMs: getTimeoutMs });
    } catch (err) {
      if (err instanceof QueueEmptyError) break;
      throw err;
    }
    lastBatchMs = performance.now();
    batches++;
    const newUrls = addNew(visited, nextUrls);
    if (visited.size < maxUrls) {
      if (newUrls.length > 0) spawn(q, d, newUrls);
      dispatched += newUrls.length;
    } else if (!stopped) {
      // The seed sets d["stop"] on every pass from here on; once is the same signal.
      await d.put("stop", true);
      stopped = true;
    }
    options.onBatch?.({ visited: visited.size, dispatched, stopped });
  }
  const endMs = performance.now();
  return { visited, dispatched, batches, elapsedMs: endMs - startMs, activeMs: lastBatchMs - startMs };
}

/** URLs per putMany onto the work Queue: well under any queuePartitionItemsMax the crawler allows (1,000). */
const TODO_PUT_MAX = 500;

/**
 * Reserve mode. Two loops share `visited`: the seed's loop drains `q` into a backlog of new
 * URLs, never blocking on the work Queue; a feeder moves the backlog onto `todo`, waiting
 * for room when it is full (reserved URLs count toward its limit until acked). Were the
 * seed's loop to wait for room in `todo` itself, crawlers waiting for room in `q` would
 * wait on it and it on them.
 *
 * The end: `q` stayed empty for getTimeoutMs, the backlog is empty, no put is in flight, and
 * `todo.len()` is 0, so every URL put there was acked. A crawler puts a page's links before
 * it acks the page's URL, so one more look at `q` after that sees every link there is.
 */
async function scrapeReserving(store: Store, url: string, options: ScrapeOptions, consumers: StartConsumers): Promise<ScrapeResult> {
  const { maxUrls, batchSize = 2000, getTimeoutMs = 5000 } = options;
  const startMs = performance.now();
  let lastBatchMs = startMs;
  await using d = await store.dicts.ephemeral<string, boolean>();
  await using q = await store.queues.ephemeral<string>();
  await using todo = await store.queues.ephemeral<string>();
  await q.put(url);
  consumers(q, todo, d);

  const visited = new Set<string>();
  const backlog: string[] = [];
  let dispatched = 0;
  let batches = 0;
  let stopped = false;
  let feeding = false;
  let finished = false;
  let wakeFeeder: (() => void) | undefined;
  let feederError: unknown;
  const feeder = (async () => {
    while (!finished) {
      if (backlog.length === 0 || stopped) {
        await new Promise<void>((resolve) => (wakeFeeder = resolve));
        continue;
      }
      const chunk = backlog.splice(0, TODO_PUT_MAX);
      feeding = true;
      try {
        await todo.putMany(chunk);
        dispatched += chunk.length;
      } finally {
        feeding = false;
      }
    }
  })().catch((err: unknown) => {
    feederError = err;
  });

  for (;;) {
    if (feederError !== undefined) throw feederError;
    let nextUrls: string[];
    try {
      nextUrls = await q.getMany(batchSize, { timeoutMs: getTimeoutMs });
    } catch (err) {
      if (!(err instanceof QueueEmptyError)) throw err;
      if ((backlog.length > 0 && !stopped) || feeding || (await todo.len()) > 0) continue;
      try {
        nextUrls = await q.getMany(batchSize, { timeoutMs: 0 });
      } catch (last) {
        if (last instanceof QueueEmptyError) break;
        throw last;
      }
    }
    lastBatchMs = performance.now();
    batches++;
    const newUrls = addNew(visited, nextUrls);
    // As the seed: crawl work goes out while `visited` is under max_urls, then "stop".
    if (visited.size < maxUrls) backlog.push(...newUrls);
    else if (!stopped) {
      await d.put("stop", true);
      stopped = true;
    }
    wakeFeeder?.();
    options.onBatch?.({ visited: visited.size, dispatched, stopped });
  }
  finished = true;
  wakeFeeder?.();
  await feeder;
  const endMs = performance.now();
  return { visited, dispatched, batches, elapsedMs: endMs - startMs, activeMs: lastBatchMs - startMs };
}
