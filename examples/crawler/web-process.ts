// The synthetic web in a process of its own, so that serving pages does not compete with
// the coordinator's event loop. Options arrive as JSON in WEB_OPTIONS_ENV; the process
// answers { origin } when listening, { fetches, paths, refetched } to "stats", and exits
// when its parent disconnects.

import type { ChildProcess } from "node:child_process";
import { firstMessage, forkTypeScript, isEntryPoint, siblingPath, stopChild } from "./fork.ts";
import { serveWeb, Web, type WebOptions } from "./web.ts";

const WEB_OPTIONS_ENV = "LARDER_CRAWLER_WEB";

export interface WebFetchStats {
  /** Requests answered, 404s included. */
  fetches: number;
  /** Distinct paths requested. */
  paths: number;
  /** Paths requested more than once. */
  refetched: number;
}

export interface WebProcess {
  readonly pid: number;
  readonly origin: string;
  readonly startUrl: string;
  stats(): Promise<WebFetchStats>;
  close(): Promise<void>;
}

/** Forks the web server and waits until it listens. */
export async function startWebProcess(options: WebOptions): Promise<WebProcess> {
  const child: ChildProcess = forkTypeScript(siblingPath("web-process.ts"), { [WEB_OPTIONS_ENV]: JSON.stringify(options) });
  const { origin } = await firstMessage<{ origin: string }>(child, "the synthetic web");
  return {
    pid: child.pid!,
    origin,
    startUrl: `${origin}/`,
    stats: () => {
      const answer = new Promise<WebFetchStats>((resolve) => child.once("message", resolve));
      child.send("stats");
      return answer;
    },
    close: () => stopChild(child),
  };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.env[WEB_OPTIONS_ENV] ?? "{}") as WebOptions;
  const server = await serveWeb(new Web(options));
  process.on("message", () => {
    const counts = server.fetchCounts();
    let refetched = 0;
    for (const n of counts.values()) if (n > 1) refetched++;
    process.send!({ fetches: server.fetches(), paths: counts.size, refetched } satisfies WebFetchStats);
  });
  process.on("disconnect", () => void server.close().then(() => process.exit(0)));
  process.send!({ origin: server.origin });
}

if (process.send !== undefined && isEntryPoint(import.meta.url)) await main();
