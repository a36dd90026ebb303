#!/usr/bin/env -S node --max-semi-space-size=4
// The `larder` command: `larder serve`, `larder dict ...`, `larder queue ...`.
// See docs/cli.md, or run `larder --help`.
// The shebang's node flags are SERVE_NODE_FLAGS (server/options.ts); a test keeps them equal.

import { processIo } from "./cli/io.ts";
import { main } from "./cli/main.ts";

const status = await main(process.argv.slice(2), processIo());
// Exit explicitly: output is already flushed (io waits for each write), and a client
// connection must not keep a finished command alive.
process.exit(status);
