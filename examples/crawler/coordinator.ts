// The seed's `scrape(url)`, line for line: an ephemeral Dict (the kill switch) and an
// ephemeral Queue (URLs to crawl); take up to 2,000 URLs at a time, waiting at most 5 s;
// the URLs not seen before join `visited` and go to crawlers while `visited` is under
// `maxUrls`; past it, the Dict gets "stop" and the loop drains the Queue until it stays
// empty for 5 s. As in the seed, `visited` counts every distinct URL taken off the Queue,
// so it can end above `maxUrls` by what was already in flight.

import { QueueEmptyError, type Dict, type Queue, type Store } from "../../client/index.ts";

/** The seed's `crawl_pages.spawn(q, d, urls)`: hands URLs to crawlers and returns at once. */
export type SpawnCrawl = (q: Queue<string>, d: Dict<string, boolean>, urls: string[]) => void;

export interface ScrapeOptions {
  /** The seed's `max_urls`. */
  maxUrls: number;
  spawn: SpawnCrawl;
  /** The seed's `get_many(2000, ...)`. */
  batchSize?: number;
  /** The seed's `timeout=5`: the crawl ends when the Queue stays empty this long. */
  getTimeoutMs?: number;
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

export async function scrape(store: Store, url: string, options: ScrapeOptions): Promise<ScrapeResult> {
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
    const newUrls: string[] = [];
    for (const next of nextUrls) {
      if (visited.has(next)) continue;
      visited.add(next);
      newUrls.push(next);
    }
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
