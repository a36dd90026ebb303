// `larder serve` runs node with SERVE_NODE_FLAGS (below). The bin's shebang is a
// plain `#!/usr/bin/env node`: a shebang passes at most one argument, and `env -S` (which
// splits it) is missing from BusyBox, Alpine and older coreutils. So when `serve` starts
// without the flags, the bin runs itself again as a child with them, and this process
// stays as a thin parent that relays signals and exits with the child's status.
//
// Signals reach the child only through the parent (over IPC), never directly: a Ctrl-C or
// a systemd stop signals the whole process group, and counting that signal twice would
// turn a graceful shutdown into the "second signal: exit at once" path. If the parent dies
// without relaying (SIGKILL), the IPC channel closes and the child shuts down as on SIGTERM.
// Where the flags are already there (`npm start`, deploy/), nothing of this happens.

import { spawn } from "node:child_process";

/**
 * The V8 flags `larder serve` runs with (`npm start`, deploy/, and the re-run below). A young generation
 * of at most 4 MiB per semi-space: with Node's default (16 MiB) a busy server drifts into a
 * state where every scavenge promotes a few MiB of request objects, and old-space
 * collections run several times a second; on the 2-core bench machine that cost 15-20% of
 * single-item throughput (docs/benchmarks.md). Programs that call startServer() themselves
 * can pass the same flags to node.
 */
export const SERVE_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=4"];

/** Set in the child's environment: it takes its stop signals from the parent. */
export const RELAYED_SIGNALS_ENV = "LARDER_SERVE_RELAYED_SIGNALS";

const RELAYED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** True when argv is `serve ...` and node runs without every flag of SERVE_NODE_FLAGS. */
export function needsServeFlags(argv: readonly string[], execArgv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (argv[0] !== "serve" || env[RELAYED_SIGNALS_ENV] === "1") return false;
  const given = [...execArgv, ...(env["NODE_OPTIONS"] ?? "").split(/\s+/)];
  return !SERVE_NODE_FLAGS.every((flag) => given.includes(flag));
}

/** Runs this same script again with SERVE_NODE_FLAGS; resolves to the child's exit status. */
export function runWithServeFlags(script: string, argv: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, ...process.execArgv, script, ...argv], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, [RELAYED_SIGNALS_ENV]: "1" },
  });
  const relay = (signal: NodeJS.Signals) => {
    if (child.connected) child.send({ signal });
  };
  for (const signal of RELAYED) process.on(signal, relay);
  return new Promise((resolve) => {
    child.on("error", (err) => {
      process.stderr.write(`error: INTERNAL: cannot start node for larder serve: ${err.message}\n`);
      resolve(1);
    });
    child.on("exit", (code, signal) => {
      for (const s of RELAYED) process.off(s, relay);
      resolve(code ?? 128 + (signal === "SIGKILL" ? 9 : signal === "SIGTERM" ? 15 : 1));
    });
  });
}
