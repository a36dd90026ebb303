// Real processes seen from the outside, for the CLI tests: a process's children (from
// /proc, Linux only), whether a pid is alive, whether a server answers its health route.

import { readFile, readdir } from "node:fs/promises";

/** The processes whose parent is `pid`, with their command lines (empty for a zombie). */
export async function childProcesses(pid: number): Promise<Array<{ pid: number; argv: string[] }>> {
  const found: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // The command name in parentheses may hold spaces: the fields after it start at ") ".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== pid) continue;
      const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0").filter((s) => s !== "");
      found.push({ pid: Number(entry), argv });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** True while a process with this pid exists (a zombie included). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when `GET url/v1/health` answers 2xx; false when it answers otherwise or not at all. */
export async function answersHealth(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/v1/health`)).ok;
  } catch {
    return false;
  }
}
