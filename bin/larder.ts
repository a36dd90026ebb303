#!/usr/bin/env node
// The `larder` command: `larder serve`, `larder dict ...`, `larder queue ...`.
// See docs/cli.md, or run `larder --help`.

import { processIo } from "./cli/io.ts";
import { main } from "./cli/main.ts";

const status = await main(process.argv.slice(2), processIo());
// Exit explicitly: output is already flushed (io waits for each write), and a client
// connection must not keep a finished command alive.
process.exit(status);
