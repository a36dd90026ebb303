// The values power-writer.ts writes: each is a function of its name, so a check can tell a
// value that was written from anything else (torn, stale or invented).

export interface QueueItem {
  p: string;
  seq: number;
  pad: string;
}

export interface DictValue {
  key: string;
  version: number;
  pad: string;
}

function pad(seed: string, bytes: number): string {
  const unit = `${seed};`;
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

export function queueItem(partition: string, seq: number, bytes: number): QueueItem {
  return { p: partition, seq, pad: pad(`${partition}:${seq}`, bytes) };
}

export function dictValue(key: string, version: number, bytes: number): DictValue {
  return { key, version, pad: pad(`${key}:${version}`, bytes) };
}

/** True if the item is exactly what the writer puts for its partition and seq. */
export function isQueueItem(item: QueueItem, partition: string): boolean {
  return item.p === partition && item.pad.length > 0 && item.pad === pad(`${partition}:${item.seq}`, item.pad.length);
}

export function isDictValue(value: DictValue, key: string): boolean {
  return value.key === key && value.pad.length > 0 && value.pad === pad(`${key}:${value.version}`, value.pad.length);
}
