// A progress line on stderr while scenarios run: "[ 12/288] larder-fsync queue-put ... 1.2s".
// On a terminal the line is rewritten in place every quarter second; elsewhere (CI logs,
// a redirect) one line is printed per step, so logs stay readable. stdout carries only
// results, so `npm run bench > table.txt` captures the table alone.

const REFRESH_MS = 250;

export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private step = 0;
  private label = "";
  private startedMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private total: number) {}

  /** Sets how many more steps are to come. */
  expect(more: number): void {
    this.total = this.step + more;
  }

  /** Announces the next step; the total can grow when a program learns it late. */
  begin(label: string): void {
    this.step += 1;
    if (this.step > this.total) this.total = this.step;
    this.label = label;
    this.startedMs = Date.now();
    if (this.tty) {
      this.render();
      this.timer ??= setInterval(() => this.render(), REFRESH_MS).unref();
    } else {
      process.stderr.write(`${this.prefix()} ${label}\n`);
    }
  }

  /** A message that must stay visible (a skipped system, a warning). */
  note(message: string): void {
    this.clear();
    process.stderr.write(`${message}\n`);
    if (this.tty && this.timer) this.render();
  }

  /** Removes the line; call before printing results to stdout. */
  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private prefix(): string {
    const width = String(this.total).length;
    return `[${String(this.step).padStart(width)}/${this.total}]`;
  }

  private render(): void {
    const seconds = ((Date.now() - this.startedMs) / 1000).toFixed(1);
    const text = `${this.prefix()} ${this.label} ${seconds}s`;
    const columns = process.stderr.columns ?? 100;
    process.stderr.write(`\r${text.slice(0, columns - 1)}\x1b[K`);
  }

  private clear(): void {
    if (this.tty) process.stderr.write("\r\x1b[K");
  }
}
