// A Larder server in a process of its own, for `npm run crawl` without --url: the
// crawler's coordinator and workers reach it over HTTP like any remote client. Options
// arrive as JSON in SERVER_OPTIONS_ENV; the process answers { url } when listening and
// shuts the server down gracefully when its parent disconnects.

import type { ChildProcess } from "node:child_process";
import { startServer, type ServerOptions } from "../../server/index.ts";
import { firstMessage, forkTypeScript, isEntryPoint, siblingPath, stopChild } from "./fork.ts";

const SERVER_OPTIONS_ENV = "LARDER_CRAWLER_SERVER";

export interface LarderProcess {
  readonly pid: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Forks a Larder server with `options` (port 0 unless given) and waits until it listens. */
export async function startLarderProcess(options: ServerOptions): Promise<LarderProcess> {
  const child: ChildProcess = forkTypeScript(siblingPath("larder-process.ts"), {
    [SERVER_OPTIONS_ENV]: JSON.stringify({ port: 0, host: "127.0.0.1", ...options }),
  });
  const { url } = await firstMessage<{ url: string }>(child, "the Larder server");
  return {
    pid: child.pid!,
    url,
    close: () => stopChild(child),
  };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.env[SERVER_OPTIONS_ENV] ?? "{}") as ServerOptions;
  const server = await startServer(options);
  process.on("disconnect", () => void server.close().then(() => process.exit(0)));
  process.send!({ url: server.url });
}

if (process.send !== undefined && isEntryPoint(import.meta.url)) await main();
