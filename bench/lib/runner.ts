// The scenario runner: N concurrent async callers repeat one operation for a fixed time
// (or until an op budget is spent, or until the operation reports there is nothing left),
// and every operation's latency is sampled with the monotonic high-resolution clock.
//
// A run is two phases: a warm-up, whose operations are neither timed nor counted (JIT,
// caches, connections, LevelDB's first compactions), then the measured phase, which starts
// with every caller idle. Throughput is the items the measured phase completed divided by
// the time from its start to its last completion.

/**
 * One operation. `caller` is 0..callers-1, `seq` counts operations across all callers.
 * Returns the number of items it handled; undefined means `itemsPerOp`. Returning 0 means
 * "nothing left" (a drained queue): that caller stops and the op is not counted.
 */
export type OpFn = (caller: number, seq: number) => Promise<number | void> | number | void;

export interface RunOptions {
  readonly callers: number;
  readonly itemsPerOp: number;
  readonly durationMs: number;
  /** Untimed lead-in; default 10% of durationMs, at most 300 ms. */
  readonly warmupMs?: number;
  /** Stop issuing after this many operations (warm-up included): bounds data written. */
  readonly maxOps?: number;
  readonly op: OpFn;
}

export interface Measurement {
  readonly callers: number;
  readonly itemsPerOp: number;
  readonly ops: number;
  readonly items: number;
  readonly elapsedMs: number;
  readonly itemsPerSec: number;
  readonly opsPerSec: number;
  /** Per-operation latency percentiles, in ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Monotonic time in ms (fractional), from process.hrtime. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

const WARMUP_FRACTION = 0.1;
const WARMUP_MS_MAX = 300;

/** A measurement with its raw latency samples (ascending) and every op issued, warm-up included. */
export interface RunResult {
  readonly measurement: Measurement;
  readonly samples: Float64Array;
  readonly issued: number;
}

export async function run(options: RunOptions): Promise<Measurement> {
  return (await runWithSamples(options)).measurement;
}

export async function runWithSamples(options: RunOptions): Promise<RunResult> {
  const { callers, itemsPerOp, durationMs, maxOps, op } = options;
  if (!(callers >= 1 && Number.isInteger(callers))) throw new Error(`callers must be a positive integer, got ${callers}`);
  const warmupMs = options.warmupMs ?? Math.min(durationMs * WARMUP_FRACTION, WARMUP_MS_MAX);
  let seq = 0;
  let issued = 0;
  // The warm-up spends at most a tenth of the op budget, so a small budget still leaves
  // most of its operations to the measured window.
  if (warmupMs > 0) {
    const warmupOpsMax = maxOps === undefined ? undefined : Math.floor(maxOps * WARMUP_FRACTION);
    const warmup = await phase(callers, warmupMs, warmupOpsMax, op, seq, undefined);
    seq = warmup.seq;
    issued += warmup.issued;
  }
  const samples = new SampleBuffer();
  const measured = await phase(callers, durationMs, maxOps, op, seq, samples);
  issued += measured.issued;
  const sorted = samples.sorted();
  return { measurement: summarize(callers, itemsPerOp, measured.items, measured.lastEndMs - measured.startMs, sorted), samples: sorted, issued };

  /** Callers repeat `op` until the time is up or the op budget is spent; `samples` records latencies. */
  async function phase(
    callerCount: number,
    phaseMs: number,
    opsMax: number | undefined,
    fn: OpFn,
    firstSeq: number,
    into: SampleBuffer | undefined,
  ) {
    const startMs = nowMs();
    const stopAt = startMs + phaseMs;
    const state = { seq: firstSeq, issued: 0, items: 0, startMs, lastEndMs: startMs };
    async function caller(index: number): Promise<void> {
      for (;;) {
        const t0 = nowMs();
        if (t0 >= stopAt || (opsMax !== undefined && state.issued >= opsMax)) return;
        state.issued += 1;
        const done = (await fn(index, state.seq++)) ?? itemsPerOp;
        if (done === 0) return;
        const t1 = nowMs();
        into?.push(t1 - t0);
        state.items += done;
        if (t1 > state.lastEndMs) state.lastEndMs = t1;
      }
    }
    await Promise.all(Array.from({ length: callerCount }, (_, i) => caller(i)));
    return state;
  }
}

function summarize(callers: number, itemsPerOp: number, items: number, elapsedMs: number, sorted: Float64Array): Measurement {
  const perSec = (n: number) => (elapsedMs > 0 ? (n * 1000) / elapsedMs : 0);
  return {
    callers,
    itemsPerOp,
    ops: sorted.length,
    items,
    elapsedMs,
    itemsPerSec: perSec(items),
    opsPerSec: perSec(sorted.length),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/**
 * One measurement from several slices of the same scenario (rounds interleaved with other
 * systems): items and measured time add up, percentiles come from all samples together.
 */
export function combine(parts: readonly RunResult[]): Measurement {
  if (parts.length === 0) throw new Error("combine needs at least one part");
  const first = parts[0]!.measurement;
  const samples = new Float64Array(parts.reduce((n, p) => n + p.samples.length, 0));
  let offset = 0;
  for (const p of parts) {
    samples.set(p.samples, offset);
    offset += p.samples.length;
  }
  samples.sort();
  const items = parts.reduce((n, p) => n + p.measurement.items, 0);
  const elapsedMs = parts.reduce((n, p) => n + p.measurement.elapsedMs, 0);
  return summarize(first.callers, first.itemsPerOp, items, elapsedMs, samples);
}

/** Nearest-rank percentile of ascending samples; NaN when there are none. */
export function percentile(sorted: Float64Array | readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Latency samples in a growing Float64Array: millions of ops without boxing numbers. */
export class SampleBuffer {
  private data = new Float64Array(4096);
  private length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }

  get size(): number {
    return this.length;
  }

  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}
