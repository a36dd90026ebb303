#!/usr/bin/env node
// The `larder` command: `larder serve`, `larder dict ...`, `larder queue ...`.
// See docs/cli.md, or run `larder --help`.
// The shebang carries no node flags (BusyBox's env has no -S): `serve` adds
// SERVE_NODE_FLAGS itself, see cli/node-flags.ts.

import { processIo } from "./cli/io.ts";
import { main } from "./cli/main.ts";
import { needsServeFlags, runWithServeFlags } from "./cli/node-flags.ts";

const argv = process.argv.slice(2);
const status = needsServeFlags(argv, process.execArgv, process.env)
  ? await runWithServeFlags(process.argv[1]!, argv)
  : await main(argv, processIo());
// Exit explicitly: output is already flushed (io waits for each write), and a client
// connection must not keep a finished command alive.
process.exit(status);
