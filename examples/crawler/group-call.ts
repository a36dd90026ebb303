// Group calls, the way a group commit does: while one call is in flight, the requests
// that arrive wait and then go together in the next call. A crawler lane that needs the
// stop flag or has links to put asks here instead of calling Larder itself, so a worker
// with 64 lanes makes one `contains("stop")` and one `putMany` per round trip instead of
// one per page. Each request is served by a call that starts after it was made, so the
// answer a lane gets is never older than its question (the seed's "check before each URL"
// holds), and a request fails exactly when the call that carried it fails.

export class GroupCall<In, Out> {
  private waiting: Array<{ input: In; size: number; resolve: (out: Out) => void; reject: (err: unknown) => void }> = [];
  private busy = false;

  /**
   * `run` makes one call for a group of inputs. `sizeOf` and `groupSizeMax` bound a group
   * (a group holds at least one input, whatever its size).
   */
  constructor(
    private readonly run: (inputs: In[]) => Promise<Out>,
    private readonly sizeOf: (input: In) => number = () => 1,
    private readonly groupSizeMax = Number.POSITIVE_INFINITY,
  ) {}

  call(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.waiting.push({ input, size: this.sizeOf(input), resolve, reject });
      this.next();
    });
  }

  private next(): void {
    if (this.busy || this.waiting.length === 0) return;
    let count = 1;
    let size = this.waiting[0]!.size;
    while (count < this.waiting.length && size + this.waiting[count]!.size <= this.groupSizeMax) {
      size += this.waiting[count]!.size;
      count++;
    }
    const group = this.waiting.splice(0, count);
    this.busy = true;
    this.run(group.map((g) => g.input)).then(
      (out) => this.settle(() => group.forEach((g) => g.resolve(out))),
      (err: unknown) => this.settle(() => group.forEach((g) => g.reject(err))),
    );
  }

  private settle(notify: () => void): void {
    this.busy = false;
    notify();
    this.next();
  }
}
