// Runs: the items of a partition are stored a run at a time, one row of larder_items per
// run, keyed by the sequence number of its first item (as the embedded engine's runs,
// docs/format.md). A putMany of 100 items is one row, not 100: one index entry, one tuple
// header, one WAL record. A run is never rewritten: a get that takes part of it moves the
// partition row's `head` past those items (`head_run` names the run that holds `head`), and
// the run's row goes when its last item is taken.
//
//   run = ( u32 length, bytes )*        lengths big-endian; at least one item

/** A run holds at most this many items and bytes (a bigger item alone), so that reading a partition's head never loads much more than a get returns. */
export const RUN_ITEMS_MAX = 1024;
export const RUN_BYTES_MAX = 64 * 1024;

export function encodeRun(values: readonly Buffer[]): Buffer {
  let size = 0;
  for (const v of values) size += 4 + v.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const v of values) {
    out.writeUInt32BE(v.length, at);
    v.copy(out, at + 4);
    at += 4 + v.length;
  }
  return out;
}

export function decodeRun(run: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < run.length; ) {
    if (at + 4 > run.length) throw new Error("larder: a run of larder_items is cut short");
    const length = run.readUInt32BE(at);
    if (at + 4 + length > run.length) throw new Error("larder: a run of larder_items is cut short");
    out.push(run.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

/** Splits items into runs of at most RUN_ITEMS_MAX items and RUN_BYTES_MAX bytes. */
export function splitRuns(values: readonly Buffer[]): Buffer[][] {
  const runs: Buffer[][] = [];
  for (let i = 0; i < values.length; ) {
    let end = i + 1;
    let bytes = values[i]!.length;
    while (end < values.length && end - i < RUN_ITEMS_MAX && bytes + values[end]!.length <= RUN_BYTES_MAX) bytes += values[end++]!.length;
    runs.push(values.slice(i, end));
    i = end;
  }
  return runs;
}
