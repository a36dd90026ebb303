// Confirmation before irrevocable commands, as Modal's CLI asks it: the question with a
// [y/N] default of No. The question goes to stderr so stdout stays clean for scripts. The
// answer is the first line of stdin, a terminal or not (`echo y | larder dict clear d`
// works, as with Modal's click prompt); stdin that ends first is a No.

import { createInterface } from "node:readline";
import type { OptionSpec } from "./args.ts";
import type { Io } from "./io.ts";

export const YES_OPTION: Record<string, OptionSpec> = {
  yes: { type: "boolean", short: "y", help: "Run without asking for confirmation." },
};

/** The user answered no at the prompt: the command stops, printing "Aborted!", exit status 1. */
export class Aborted extends Error {
  constructor() {
    super("Aborted!");
    this.name = "Aborted";
  }
}

/** The answer line; Ctrl-C at the prompt is Aborted, as in Modal's CLI (not death by signal). */
function readAnswer(io: Io): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: io.stdin, terminal: false });
    let answered = false;
    const interrupted = (): void => {
      answered = true;
      rl.close();
      reject(new Aborted());
    };
    process.once("SIGINT", interrupted);
    rl.once("line", (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once("close", () => {
      process.off("SIGINT", interrupted);
      if (!answered) resolve("");
    });
  });
}

/**
 * Asks "Are you sure you want to <action>?". Resolves when the user confirmed (or `yes`
 * was given); throws Aborted on any answer but y/yes, and when stdin ends unanswered.
 */
export async function confirm(io: Io, action: string, yes: boolean): Promise<void> {
  if (yes) return;
  await io.err(`Are you sure you want to ${action}? [y/N]: `);
  const answer = (await readAnswer(io)).trim().toLowerCase();
  if (answer !== "y" && answer !== "yes") throw new Aborted();
}
