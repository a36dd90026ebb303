// CPU time per process, to say where a crawl's CPU goes: the machine has two cores, and
// a second of CPU spent by the web server is a second the crawler does not have. Read
// from /proc (Linux); elsewhere the numbers are left out.

import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux builds). */
const TICKS_PER_SECOND = 100;

/** User plus system CPU time of a process in ms, or undefined when it cannot be read. */
export function processCpuMs(pid: number): number | undefined {
  if (pid === process.pid) {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** CPU ms of groups of processes, from `start()` to `stop()`. */
export class CpuMeter {
  private readonly startMs = new Map<number, number | undefined>();

  constructor(private readonly groups: Record<string, number[]>) {}

  start(): void {
    for (const pid of Object.values(this.groups).flat()) this.startMs.set(pid, processCpuMs(pid));
  }

  /** ms of CPU per group; a group is left out when any of its processes cannot be read. */
  stop(): Record<string, number> {
    const result: Record<string, number> = {};
    for (const [name, pids] of Object.entries(this.groups)) {
      let total = 0;
      for (const pid of pids) {
        const before = this.startMs.get(pid);
        const after = processCpuMs(pid);
        if (before === undefined || after === undefined) total = NaN;
        else total += after - before;
      }
      if (!Number.isNaN(total)) result[name] = total;
    }
    return result;
  }
}
