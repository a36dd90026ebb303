// Command-line flags shared by every bench program. Flags are few and all optional:
//   --quick             shrink durations and data sizes for a smoke run (seconds, not minutes)
//   --duration=MS       measured time per scenario (overrides the default and --quick)
//   --rounds=N          interleaved slices per scenario (bench, bench:http; see lib/matrix.ts)
//   --only=WORD[,WORD]  run only the systems whose name contains one of the words
//   --out=DIR           where results are written (all.ts; default bench/results)

export interface BenchArgs {
  readonly quick: boolean;
  /** undefined: the program's own default for quick or full runs. */
  readonly durationMs: number | undefined;
  /** undefined: the program's own default. */
  readonly rounds: number | undefined;
  readonly only: readonly string[];
  readonly out: string | undefined;
  /** Flags the program reads itself (scale.ts: --child, --dir, --keep). */
  readonly extra: ReadonlyMap<string, string>;
}

export function parseArgs(argv: readonly string[] = process.argv.slice(2)): BenchArgs {
  let quick = false;
  let durationMs: number | undefined;
  let rounds: number | undefined;
  let only: string[] = [];
  let out: string | undefined;
  const extra = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument '${arg}' (flags look like --quick or --duration=2000)`);
    const [, name, value] = match as unknown as [string, string, string | undefined];
    if (name === "quick") quick = true;
    else if (name === "duration") durationMs = positiveNumber(name, value);
    else if (name === "rounds") rounds = Math.ceil(positiveNumber(name, value));
    else if (name === "only") only = (value ?? "").split(",").filter((w) => w.length > 0);
    else if (name === "out") out = value;
    else extra.set(name, value ?? "");
  }
  return { quick, durationMs, rounds, only, out, extra };
}

function positiveNumber(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} takes a positive number, got '${value}'`);
  return n;
}

/** True when `--only` was not given, or when the label contains one of its words. */
export function selected(args: BenchArgs, label: string): boolean {
  return args.only.length === 0 || args.only.some((word) => label.includes(word));
}
