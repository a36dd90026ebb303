// Checks a store after a power cut against the writer's log (power-writer.ts): the store
// opens, every acknowledged write is there exactly once, FIFO holds, nothing appears that
// was never written. Acknowledged writes that are missing are counted apart (`lost`), so
// that a control round in buffered mode can require some.

import { open } from "../../../index.ts";
import type { Store } from "../../../proto/api.ts";
import { isDictValue, isQueueItem, type DictValue, type QueueItem } from "./power-values.ts";

export interface Verdict {
  /** The error open() failed with, if it did. */
  openError: string | undefined;
  /** Anything that is not a plain loss: duplicates, broken FIFO, torn or invented values. */
  violations: string[];
  /** Acknowledged writes missing (queue items, dict puts, updates). */
  lost: number;
  lostDetail: string[];
  /** Acknowledged writes in the log (queue items, dict puts, updates). */
  acked: number;
}

interface PartitionLog {
  attempted: number; // highest seq attempted, -1 if none
  acked: number; // highest seq acknowledged, -1 if none
  ackedItems: number;
  gotten: number[];
}

interface DictLog {
  attempted: number;
  acked: number;
}

interface Log {
  partitions: Map<string, PartitionLog>;
  keys: Map<string, DictLog>;
  update: { keys: string[]; attempted: number; acked: number } | undefined;
  ackedWrites: number;
}

/** Items an unacknowledged getMany can have taken (the writer asks for 3). */
const GET_MANY = 3;

function parse(text: string): Log {
  const log: Log = { partitions: new Map(), keys: new Map(), update: undefined, ackedWrites: 0 };
  const partition = (name: string): PartitionLog => {
    let p = log.partitions.get(name);
    if (!p) log.partitions.set(name, (p = { attempted: -1, acked: -1, ackedItems: 0, gotten: [] }));
    return p;
  };
  const key = (name: string): DictLog => {
    let k = log.keys.get(name);
    if (!k) log.keys.set(name, (k = { attempted: -1, acked: -1 }));
    return k;
  };
  for (const line of text.split("\n")) {
    const [kind, a, ...rest] = line.split(" ");
    if (kind === "p") partition(a!).attempted = Math.max(partition(a!).attempted, Number(rest[0]) + Number(rest[1]) - 1);
    if (kind === "P") {
      const p = partition(a!);
      p.acked = Math.max(p.acked, Number(rest[0]) + Number(rest[1]) - 1);
      p.ackedItems += Number(rest[1]);
      log.ackedWrites += Number(rest[1]);
    }
    if (kind === "G") partition(a!).gotten.push(...rest.map(Number));
    if (kind === "d") key(a!).attempted = Math.max(key(a!).attempted, Number(rest[0]));
    if (kind === "D") {
      key(a!).acked = Math.max(key(a!).acked, Number(rest[0]));
      log.ackedWrites++;
    }
    if (kind === "u") log.update = { keys: rest, attempted: Number(a), acked: log.update?.acked ?? -1 };
    if (kind === "U") {
      log.update!.acked = Number(a);
      log.ackedWrites++;
    }
  }
  return log;
}

async function checkPartition(store: Store, name: string, p: PartitionLog, verdict: Verdict): Promise<number> {
  const q = await store.queues.fromName<QueueItem>("power");
  const length = await q.len({ partition: name });
  const remaining = length === 0 ? [] : await q.getMany(length, { partition: name, timeoutMs: 0 });
  if (remaining.length !== length) note(verdict.violations, `${name}: len ${length} but ${remaining.length} items`);
  remaining.forEach((item, i) => {
    if (!isQueueItem(item, name)) note(verdict.violations, `${name}: item #${i} is not one the writer wrote: ${JSON.stringify(item).slice(0, 80)}`);
  });
  const seqs = remaining.map((i) => i.seq);
  p.gotten.forEach((seq, i) => {
    if (seq !== i) note(verdict.violations, `${name}: acknowledged get #${i} returned item ${seq} (FIFO or exactly-once broken)`);
  });
  seqs.forEach((seq, i) => {
    if (seq !== seqs[0]! + i) note(verdict.violations, `${name}: remaining #${i} is ${seq}, not ${seqs[0]! + i} (FIFO broken)`);
  });
  const first = seqs[0];
  if (first !== undefined && first < p.gotten.length) note(verdict.violations, `${name}: item ${first} was acknowledged to a get and is still queued`);
  if (first !== undefined && first - p.gotten.length > GET_MANY) {
    note(verdict.violations, `${name}: items ${p.gotten.length}..${first - 1} are gone, more than one unacknowledged get takes`);
  }
  const lastPresent = seqs.length > 0 ? seqs[seqs.length - 1]! : p.gotten.length - 1 + GET_MANY;
  if (seqs.length > 0 && lastPresent > p.attempted) note(verdict.violations, `${name}: item ${lastPresent} was never written (last attempted ${p.attempted})`);
  if (p.acked > lastPresent) {
    verdict.lost += p.acked - lastPresent;
    note(verdict.lostDetail, `${name}: acknowledged items ${lastPresent + 1}..${p.acked} missing`);
  }
  return length;
}

async function checkDict(store: Store, log: Log, verdict: Verdict): Promise<void> {
  const d = await store.dicts.fromName<string, DictValue>("power");
  for (const [key, k] of log.keys) {
    if (log.update?.keys.includes(key)) continue;
    const value = await d.get(key);
    if (value !== undefined && !isDictValue(value, key)) note(verdict.violations, `dict ${key}: a value the writer never wrote`);
    if (value !== undefined && value.version > k.attempted) note(verdict.violations, `dict ${key}: version ${value.version} never written`);
    if (k.acked >= 0 && (value === undefined || value.version < k.acked)) {
      verdict.lost++;
      note(verdict.lostDetail, `dict ${key}: acknowledged version ${k.acked}, found ${value?.version ?? "nothing"}`);
    }
  }
  if (log.update) {
    const values = await Promise.all(log.update.keys.map((k) => d.get(k)));
    const versions = new Set(values.map((v) => v?.version));
    if (versions.size !== 1) note(verdict.violations, `update not atomic: versions ${[...versions].join(",")}`);
    const version = values[0]?.version ?? -1;
    if (version > log.update.attempted) note(verdict.violations, `update version ${version} never written`);
    if (version < log.update.acked) {
      verdict.lost++;
      note(verdict.lostDetail, `update: acknowledged version ${log.update.acked}, found ${version}`);
    }
  }
  let counted = 0;
  for await (const [key, value] of d.items()) {
    counted++;
    if (!isDictValue(value, key)) note(verdict.violations, `dict ${key}: a value the writer never wrote`);
  }
  const len = await d.len();
  if (len !== counted) note(verdict.violations, `dict len ${len} but ${counted} entries`);
}

/** Opens the folder and checks it against the log; leaves the store closed. */
function note(list: string[], line: string): void {
  if (list.length < 10) list.push(line);
  else if (list.length === 10) list.push("...");
}

export async function verify(path: string, logText: string): Promise<Verdict> {
  const log = parse(logText);
  const verdict: Verdict = { openError: undefined, violations: [], lost: 0, lostDetail: [], acked: log.ackedWrites };
  let store: Store;
  try {
    store = await open({ path });
  } catch (err) {
    // LevelDB's own message ("Corruption: ...") sits under classic-level's "failed to open".
    const messages: string[] = [];
    for (let e = err as { message?: string; cause?: unknown } | undefined; e && messages.length < 4; e = e.cause as typeof e) messages.push(String(e.message));
    verdict.openError = `${(err as { code?: string }).code}: ${messages.join(" <- ")}`;
    return verdict;
  }
  try {
    const q = await store.queues.fromName<QueueItem>("power", { createIfMissing: true });
    await store.dicts.fromName("power", { createIfMissing: true });
    let lengths = 0;
    for (const [name, p] of log.partitions) lengths += await checkPartition(store, name, p, verdict);
    // Partitions of earlier rounds were emptied by their checks: anything else is invented.
    const total = await q.len({ total: true });
    if (total !== 0) note(verdict.violations, `${total} items left in partitions this round's writer never wrote (of ${lengths} checked)`);
    await checkDict(store, log, verdict);
  } finally {
    await store.close();
  }
  return verdict;
}
