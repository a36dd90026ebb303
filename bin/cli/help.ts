// --help text, generated from the same declarations that drive the parser.

import type { Command, OptionSpec } from "./args.ts";
import { HELP_OPTION } from "./args.ts";

export interface Group {
  /** "dict" */
  readonly name: string;
  readonly summary: string;
  readonly commands: readonly Command[];
}

function usageArguments(command: Command): string {
  return command.positionals
    .map((p) => {
      const name = p.variadic ? `${p.name}...` : p.name;
      return p.optional ? `[${name}]` : name;
    })
    .join(" ");
}

function flagLabel(name: string, spec: OptionSpec): string {
  const long = `--${name}${spec.type === "string" ? ` ${spec.valueName ?? "VALUE"}` : ""}`;
  return spec.short ? `-${spec.short}, ${long}` : `    ${long}`;
}

function columns(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join("\n");
}

export function commandHelp(command: Command): string {
  const usage = ["larder", command.path, usageArguments(command), "[options]"].filter((s) => s !== "").join(" ");
  const sections = [`Usage: ${usage}`, command.summary];
  if (command.description) sections.push(command.description);
  if (command.positionals.length > 0) {
    sections.push(`Arguments:\n${columns(command.positionals.map((p) => [p.name, p.help] as const))}`);
  }
  const options = Object.entries({ ...command.options, ...HELP_OPTION });
  sections.push(`Options:\n${columns(options.map(([name, spec]) => [flagLabel(name, spec), spec.help] as const))}`);
  return sections.join("\n\n") + "\n";
}

export function groupHelp(group: Group): string {
  const commandName = (c: Command) => c.path.split(" ").slice(1).join(" ");
  return [
    `Usage: larder ${group.name} COMMAND [ARGUMENTS] [options]`,
    group.summary,
    `Commands:\n${columns(group.commands.map((c) => [commandName(c), c.summary] as const))}`,
    `Run 'larder ${group.name} COMMAND --help' for a command's arguments and options.`,
  ].join("\n\n") + "\n";
}

export function topHelp(serve: Command, groups: readonly Group[]): string {
  const rows: Array<readonly [string, string]> = [["serve", serve.summary], ...groups.map((g) => [g.name, g.summary] as const)];
  return [
    "Usage: larder COMMAND [ARGUMENTS] [options]",
    "Larder: durable Modal-style Dicts and Queues. `serve` runs a server; `dict` and `queue` talk to one.",
    `Commands:\n${columns(rows)}`,
    [
      "Environment variables (the matching flag wins):",
      columns([
        ["LARDER_URL", "server URL for dict and queue commands (default http://127.0.0.1:7070)"],
        ["LARDER_TOKEN", "bearer token, for serve and for the client commands"],
        ["LARDER_ENVIRONMENT", 'environment for dict and queue commands (default "main")'],
      ]),
    ].join("\n"),
    [
      "Exit status:",
      columns([
        ["0", "success"],
        ["1", "the command failed: `error: CODE: message` on stderr (NOT_FOUND, UNAVAILABLE, ...), or a confirmation was declined"],
        ["2", "INVALID: a bad command, option or argument, or conflicting options"],
      ]),
    ].join("\n"),
    `Options:\n${columns([
      ["-h, --help", "show this help"],
      ["-V, -v, --version", "print the version of larder"],
    ])}`,
    "Run 'larder COMMAND --help' for more.",
  ].join("\n\n") + "\n";
}
