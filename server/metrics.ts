// The server's metrics, served at GET /metrics in Prometheus' text format (prom-client),
// behind the token like every data route. docs/ops.md says what each one means.
//
// Counting is kept off the request path's allocations: a request adds to a slot made once
// per (route, outcome) pair (two Map lookups, a bucket scan, three additions), a batch
// adds to histograms once per batch (not per call), and everything the engine already
// knows (objects, items, entries, waiters, reopens) is read only when Prometheus scrapes,
// through prom-client's collect callbacks.

import { performance } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { EngineObserver, EnvironmentStats } from "../engine/index.ts";

export const METRICS_PATH = "/metrics";

/** Request latencies, in seconds: from a millisecond call to a 30 s long-poll. */
const REQUEST_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Batch writes (and their fsync), in seconds: an fsync takes from tens of microseconds to tens of milliseconds. */
const FSYNC_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** LevelDB writes (puts and deletes) per batch. */
const BATCH_WRITES_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 20000];
/** Key and value bytes per batch. */
const BATCH_BYTES_BUCKETS = [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

/** What the metrics read from the engine at scrape time. */
export interface MetricsSource {
  /** Objects, items, entries and waiters by environment; undefined where the backend does not count them (PostgreSQL). */
  stats(): EnvironmentStats[] | undefined;
  /** Times the store was reopened after a storage failure. */
  reopens(): number;
}

const REQUEST_METRIC = "larder_request_duration_seconds";
const REQUEST_HELP = "Requests answered, by route and outcome (ok or the error code), and how long each took to answer";

/** One (route, outcome) pair's requests: their count, total seconds and count per bucket. */
interface Slot {
  readonly route: string;
  readonly outcome: string;
  count: number;
  sum: number;
  readonly buckets: Float64Array;
}

/**
 * larder_request_duration_seconds, counted into slots (above) and handed to prom-client's
 * registry as a histogram at scrape time. prom-client's own observe() builds a label object
 * and a hash string per call; this does neither.
 */
class RequestHistogram extends Histogram<"route" | "outcome"> {
  private readonly slots = new Map<string, Map<string, Slot>>();
  private readonly bounds = REQUEST_SECONDS_BUCKETS;

  constructor(registry: Registry) {
    super({
      name: REQUEST_METRIC,
      help: REQUEST_HELP,
      labelNames: ["route", "outcome"],
      buckets: REQUEST_SECONDS_BUCKETS,
      registers: [registry],
    });
  }

  record(route: string, outcome: string, seconds: number): void {
    let byOutcome = this.slots.get(route);
    if (byOutcome === undefined) this.slots.set(route, (byOutcome = new Map()));
    let slot = byOutcome.get(outcome);
    if (slot === undefined) {
      slot = { route, outcome, count: 0, sum: 0, buckets: new Float64Array(this.bounds.length) };
      byOutcome.set(outcome, slot);
    }
    slot.count++;
    slot.sum += seconds;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        slot.buckets[i]!++;
        break;
      }
    }
  }

  /** The samples of every slot, cumulative per bucket as the text format wants. */
  private samples(): Array<{ labels: Record<string, string | number>; value: number; metricName: string }> {
    const out: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const byOutcome of this.slots.values()) {
      for (const slot of byOutcome.values()) {
        const labels = { route: slot.route, outcome: slot.outcome };
        let cumulative = 0;
        for (let i = 0; i < this.bounds.length; i++) {
          cumulative += slot.buckets[i]!;
          out.push({ labels: { ...labels, le: this.bounds[i]! }, value: cumulative, metricName: `${REQUEST_METRIC}_bucket` });
        }
        out.push({ labels: { ...labels, le: "+Inf" }, value: slot.count, metricName: `${REQUEST_METRIC}_bucket` });
        out.push({ labels, value: slot.sum, metricName: `${REQUEST_METRIC}_sum` });
        out.push({ labels, value: slot.count, metricName: `${REQUEST_METRIC}_count` });
      }
    }
    return out;
  }

  /** What the registry formats (prom-client asks for this first, then get()). */
  async getForPromString() {
    return { name: REQUEST_METRIC, help: REQUEST_HELP, type: "histogram" as const, values: this.samples(), aggregator: "sum" as const };
  }

  override async get() {
    return (await this.getForPromString()) as unknown as Awaited<ReturnType<Histogram<"route" | "outcome">["get"]>>;
  }

}

let processMetrics: Registry | undefined;

/** prom-client's default metrics, prefixed larder_process_ and larder_nodejs_, made once per process. */
function processRegistry(): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics, prefix: "larder_" });
  }
  return processMetrics;
}

export class ServerMetrics implements EngineObserver {
  readonly registry = new Registry();
  private readonly requests: RequestHistogram;
  private readonly fsyncSeconds: Histogram;
  private readonly batchWrites: Histogram;
  private readonly batchBytes: Histogram;
  private source: MetricsSource | undefined;

  constructor() {
    const registers = [this.registry];
    this.requests = new RequestHistogram(this.registry);
    this.fsyncSeconds = new Histogram({
      name: "larder_commit_fsync_seconds",
      help: "Time to write one commit batch to LevelDB with its fsync (fsync durability only)",
      buckets: FSYNC_SECONDS_BUCKETS,
      registers,
    });
    this.batchWrites = new Histogram({
      name: "larder_commit_batch_writes",
      help: "LevelDB writes (puts and deletes) per commit batch; its _count is the number of batches",
      buckets: BATCH_WRITES_BUCKETS,
      registers,
    });
    this.batchBytes = new Histogram({
      name: "larder_commit_batch_bytes",
      help: "Key and value bytes put per commit batch",
      buckets: BATCH_BYTES_BUCKETS,
      registers,
    });
    this.environmentGauges(registers);
    const metrics = this;
    new Counter({
      name: "larder_storage_reopens_total",
      help: "Times the server reopened its store after a storage failure (disk full, I/O error)",
      registers,
      collect() {
        this.reset();
        this.inc(metrics.source?.reopens() ?? 0);
      },
    });
    // The process's own metrics (CPU, memory, event loop lag, GC) are the process's, not a
    // server's: collected once per process and served by every server in it.
    for (const metric of processRegistry().getMetricsAsArray()) this.registry.registerMetric(metric as unknown as Counter);
  }

  /** Where the scrape-time gauges come from (set once the engine is open). */
  watch(source: MetricsSource): void {
    this.source = source;
  }

  /** A request answered `outcome` ("ok" or an error code) after `startedAt` (performance.now()). */
  request(route: string, outcome: string, startedAt: number): void {
    this.requests.record(route, outcome, (performance.now() - startedAt) / 1000);
  }

  batchWritten(writes: number, bytes: number, seconds: number, synced: boolean): void {
    this.batchWrites.observe(writes);
    this.batchBytes.observe(bytes);
    if (synced) this.fsyncSeconds.observe(seconds);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private environmentGauges(registers: Registry[]): void {
    const metrics = this;
    const gauge = (name: string, help: string, read: (s: EnvironmentStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ["environment"],
        registers,
        collect() {
          this.reset();
          for (const stats of metrics.source?.stats() ?? []) this.set({ environment: stats.environment }, read(stats));
        },
      });
    };
    gauge("larder_dicts", "Dicts stored, by environment", (s) => s.dicts);
    gauge("larder_queues", "Queues stored, by environment", (s) => s.queues);
    gauge("larder_dict_entries", "Entries in all dicts, by environment (expired ones until the sweep removes them)", (s) => s.dictEntries);
    gauge("larder_queue_items", "Items in all queues, by environment (expired ones until they are noticed)", (s) => s.queueItems);
    gauge("larder_waiting_getters", "Queue gets waiting for an item (long-polls and blocking gets), by environment", (s) => s.waitingGetters);
    gauge("larder_waiting_putters", "Queue puts waiting for room in a full partition, by environment", (s) => s.waitingPutters);
  }
}
