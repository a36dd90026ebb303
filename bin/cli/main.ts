// The command dispatcher: finds the command named by the first words of argv, parses the
// rest for it, runs it, and turns the outcome into an exit status:
//
//   0  success
//   1  the command failed with a Larder error code (NOT_FOUND, KEY_NOT_FOUND, UNAVAILABLE,
//      UNAUTHENTICATED, LOCKED, ...), printed as `error: CODE: message` on stderr; or the
//      user declined a confirmation, or stdin ended before an answer ("Aborted!")
//   2  INVALID: a bad command, option or argument, whether the CLI or the server noticed

import { isLarderError } from "../../proto/index.ts";
import type { Command } from "./args.ts";
import { parseCommand, UsageError } from "./args.ts";
import { Aborted } from "./confirm.ts";
import { DICT_GROUP } from "./dict.ts";
import type { Group } from "./help.ts";
import { commandHelp, groupHelp, topHelp } from "./help.ts";
import type { Io } from "./io.ts";
import { QUEUE_GROUP } from "./queue.ts";
import { SERVE_COMMAND } from "./serve.ts";
import { version } from "./version.ts";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const GROUPS: readonly Group[] = [DICT_GROUP, QUEUE_GROUP];

const VERSION_FLAGS = ["--version", "-V", "-v"];
const isVersion = (word: string | undefined) => word !== undefined && VERSION_FLAGS.includes(word);
const isHelp = (word: string | undefined) => word === "--help" || word === "-h" || word === "help";

type Resolved = { help: string } | { command: Command; argv: string[] };

function resolve(argv: readonly string[]): Resolved {
  const [first, second, ...rest] = argv;
  const top = topHelp(SERVE_COMMAND, GROUPS);
  if (first === undefined) throw new UsageError(`missing command\n\n${top}`);
  if (isHelp(first)) return { help: top };
  if (first === "serve") return { command: SERVE_COMMAND, argv: argv.slice(1) };
  const group = GROUPS.find((g) => g.name === first);
  if (!group) throw new UsageError(`unknown command '${first}'; expected serve, dict or queue`);
  if (isHelp(second)) return { help: groupHelp(group) };
  if (second === undefined) throw new UsageError(`missing command\n\n${groupHelp(group)}`);
  const command = group.commands.find((c) => c.path === `${group.name} ${second}`);
  if (!command) {
    const names = group.commands.map((c) => c.path.split(" ")[1]).join(", ");
    throw new UsageError(`unknown command '${group.name} ${second}'; expected one of: ${names}`, group.name);
  }
  return { command, argv: rest };
}

async function execute(argv: readonly string[], io: Io): Promise<number> {
  if (isVersion(argv[0])) {
    await io.out(`${await version()}\n`);
    return EXIT_OK;
  }
  const resolved = resolve(argv);
  if ("help" in resolved) {
    await io.out(resolved.help);
    return EXIT_OK;
  }
  const args = parseCommand(resolved.command, resolved.argv);
  if (args.values["help"]) {
    await io.out(commandHelp(resolved.command));
    return EXIT_OK;
  }
  return (await resolved.command.run(args, io)) ?? EXIT_OK;
}

async function report(err: unknown, io: Io): Promise<number> {
  if (err instanceof Aborted) {
    await io.err("Aborted!\n");
    return EXIT_FAILED;
  }
  if (isLarderError(err)) {
    const hint = err instanceof UsageError && err.helpCommand ? `\nRun 'larder ${err.helpCommand} --help' for usage.` : "";
    await io.err(`error: ${err.code}: ${err.message}${hint}\n`);
    return err.code === "INVALID" ? EXIT_USAGE : EXIT_FAILED;
  }
  // Not raised on purpose: a bug. Say so with the same shape; LARDER_DEBUG=1 shows the stack.
  const detail = io.env["LARDER_DEBUG"] && err instanceof Error ? `\n${err.stack}` : "";
  await io.err(`error: INTERNAL: ${err instanceof Error ? err.message : String(err)}${detail}\n`);
  return EXIT_FAILED;
}

/** Runs the CLI on argv (without `node` and the script) and returns the exit status. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  try {
    return await execute(argv, io);
  } catch (err) {
    if (isBrokenPipe(err)) return EXIT_OK; // `larder dict items d | head -1`: the reader left
    return report(err, io);
  }
}

function isBrokenPipe(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "EPIPE";
}
