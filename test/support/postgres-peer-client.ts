// Drives test/support/postgres-peer.ts, a child process that serves stores on PostgreSQL
// databases on request (one startServer({ postgres }) each).

import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { errorFromCode } from "../../proto/errors.ts";

const SCRIPT = fileURLToPath(new URL("./postgres-peer.ts", import.meta.url));

interface Answer {
  n: number;
  url?: string;
  closed?: boolean;
  error?: string;
  code?: string;
}

export class Peer {
  private next = 0;
  private readonly waiting = new Map<number, (answer: Answer) => void>();

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const answer = JSON.parse(line) as Answer;
      this.waiting.get(answer.n)?.(answer);
      this.waiting.delete(answer.n);
    });
  }

  static async start(): Promise<Peer> {
    const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], { stdio: ["pipe", "pipe", "inherit"] });
    return new Peer(child);
  }

  private ask(message: Record<string, unknown>): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const n = message.n as number;
      this.waiting.set(n, (answer) => {
        if (answer.error === undefined) resolve(answer);
        else reject(answer.code === undefined ? new Error(`peer: ${answer.error}`) : errorFromCode(answer.code, answer.error));
      });
      this.child.stdin!.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Serves the store on `url` in the child; resolves with its HTTP address and a close. */
  async open(url: string, options: Record<string, unknown>): Promise<{ url: string; close(): Promise<void> }> {
    const n = ++this.next;
    const answer = await this.ask({ n, url, options });
    return { url: answer.url!, close: async () => void (await this.ask({ n, close: true })) };
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.stdin!.end();
    await exited;
  }
}
