// Command-line parsing on node:util parseArgs: each command declares its positionals and
// options once, and that declaration drives both the parser and the --help text.

import { parseArgs } from "node:util";
import { InvalidError } from "../../proto/index.ts";
import type { Io } from "./io.ts";

/** A mistake on the command line: code INVALID, and a pointer to the command's --help. */
export class UsageError extends InvalidError {
  constructor(message: string, readonly helpCommand?: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Shown after the flag in --help, e.g. "P" in "-p, --partition P". */
  valueName?: string;
  help: string;
}

export interface PositionalSpec {
  name: string;
  help: string;
  optional?: boolean;
  /** Takes every remaining positional (last one only). */
  variadic?: boolean;
}

export interface ParsedArgs {
  /** By positional name; a variadic one holds its first value (all are in `rest`). */
  readonly positionals: Readonly<Record<string, string | undefined>>;
  /** Every positional as given; see variadicValues(). */
  readonly rest: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
}

export interface Command {
  /** "dict items" */
  readonly path: string;
  readonly summary: string;
  /** Paragraphs shown under the usage line in --help. */
  readonly description?: string;
  readonly positionals: readonly PositionalSpec[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  run(args: ParsedArgs, io: Io): Promise<number | void>;
}

export const HELP_OPTION: Record<string, OptionSpec> = {
  help: { type: "boolean", short: "h", help: "Show this help and exit." },
};

/** Parses argv (after the command words) for one command; throws UsageError on any mistake. */
export function parseCommand(command: Command, argv: readonly string[]): ParsedArgs {
  const specs: Record<string, OptionSpec> = { ...command.options, ...HELP_OPTION };
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) },
    ]),
  );
  // Not strict: parseArgs's own errors name Node's internals ("place it at the end of the
  // command after '--', as in '-- \"--x\"", "<value>"), so the tokens are checked here and
  // every mistake gets Larder's wording.
  const parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: false, tokens: true });
  for (const token of parsed.tokens) {
    if (token.kind === "option") checkOption(specs, token, command.path);
  }
  const values = parsed.values as ParsedArgs["values"];
  if (values.help) return { positionals: {}, rest: [], values };
  return { positionals: bindPositionals(command, parsed.positionals), rest: parsed.positionals, values };
}

interface OptionToken {
  name: string;
  rawName: string;
  value: string | undefined;
  inlineValue: boolean | undefined;
}

function checkOption(specs: Readonly<Record<string, OptionSpec>>, token: OptionToken, path: string): void {
  const spec = Object.hasOwn(specs, token.name) ? specs[token.name] : undefined;
  if (spec === undefined) {
    const dashed = /^-\d/.test(token.rawName)
      ? `; to pass an argument that starts with '-', put it after '--' (larder ${path} -- ${token.rawName})`
      : "";
    throw new UsageError(`unknown option '${token.rawName}'${dashed}`, path);
  }
  if (spec.type === "string" && token.value === undefined) {
    throw new UsageError(`option '${token.rawName}' needs a value (${token.rawName} ${spec.valueName ?? "VALUE"})`, path);
  }
  if (spec.type === "string" && !token.inlineValue && token.value!.startsWith("-")) {
    throw new UsageError(
      `option '${token.rawName}' needs a value, got the option-like '${token.value}'; to give a value that starts with '-', write --${token.name}=${token.value}`,
      path,
    );
  }
  if (spec.type === "boolean" && token.inlineValue) {
    throw new UsageError(`option '${token.rawName}' takes no value`, path);
  }
}

function bindPositionals(command: Command, given: readonly string[]): Record<string, string | undefined> {
  const specs = command.positionals;
  const variadic = specs.length > 0 && specs[specs.length - 1]!.variadic === true;
  const bound: Record<string, string | undefined> = {};
  specs.forEach((spec, i) => {
    bound[spec.name] = given[i];
    if (given[i] === undefined && !spec.optional) {
      throw new UsageError(`missing argument ${spec.name}`, command.path);
    }
  });
  if (!variadic && given.length > specs.length) {
    throw new UsageError(`unexpected argument '${given[specs.length]}'`, command.path);
  }
  return bound;
}

/** The values of a variadic last positional. */
export function variadicValues(command: Command, args: ParsedArgs): string[] {
  return args.rest.slice(command.positionals.length - 1);
}

/** A count such as N in `items NAME [N]`: a non-negative integer in decimal. */
export function parseCount(what: string, text: string | undefined, fallback: number, path: string): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${what} must be a non-negative integer, got '${text}'`, path);
  }
  return Number(text);
}

/** A duration or size flag in ms or bytes: a non-negative integer; `_` may group digits. */
export function parseNonNegativeInteger(flag: string, text: string, path: string): number {
  const digits = text.replaceAll("_", "");
  if (!/^\d+$/.test(digits) || !Number.isSafeInteger(Number(digits))) {
    throw new UsageError(`${flag} must be a non-negative integer, got '${text}'`, path);
  }
  return Number(digits);
}

/**
 * A value typed on the command line: JSON when the whole text parses as JSON (`123`,
 * `true`, `null`, `"quoted"`, `{"a":1}`), otherwise the text itself as a string.
 * `--string` skips the JSON attempt, so `--string 123` stores the string "123".
 */
export function parseValue(text: string, asString: boolean): unknown {
  if (asString) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === "string" ? value : undefined;
}

export function booleanOption(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export function listOption(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  return Array.isArray(value) ? value : [];
}
