// Items a remote get received, to be acknowledged (docs/protocol.md, "Got items in
// transit"). A server serves a `queue/get` that carries a request id and `ackable` as a
// reservation whose lease outlasts the record of that id, and answers the items' tokens
// with them: until the client says it received them, an item taken for it is not gone,
// only invisible, and comes back at its place if the client never says so (it crashed or
// was cut off before the answer reached it, and gave up retrying). The client says so
// with its next call on that queue (`ack` in the envelope, so that the call sees the
// items gone, as an embedded store would), or, when no such call comes at once, with a
// `queue/ack` of its own on the next turn of the event loop.

import { ClosedError, NotFoundError } from "../proto/errors.ts";
import { ACK_TOKENS_MAX } from "../proto/calls.ts";

export class ReceivedItems {
  /** Tokens not yet acknowledged, by queue id, oldest first. */
  private readonly pending = new Map<string, string[]>();
  private scheduled = false;
  /** Acks being sent on their own: close() waits for them. */
  private readonly sending = new Set<Promise<void>>();

  constructor(private readonly sendAck: (id: string, tokens: string[]) => Promise<unknown>) {}

  /** The tokens of a get's answer: acknowledged by the next call on that queue, or alone on the next turn. */
  add(id: string, tokens: readonly string[]): void {
    if (tokens.length === 0) return;
    const list = this.pending.get(id);
    if (list === undefined) this.pending.set(id, [...tokens]);
    else for (const token of tokens) list.push(token);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Up to ACK_TOKENS_MAX tokens for a call on queue `id` to carry; `restore` them if the call fails. */
  take(id: string): string[] | undefined {
    const list = this.pending.get(id);
    if (list === undefined) return undefined;
    if (list.length <= ACK_TOKENS_MAX) {
      this.pending.delete(id);
      return list;
    }
    return list.splice(0, ACK_TOKENS_MAX);
  }

  /** Gives back tokens a call carried without being answered (they are sent again later). */
  restore(id: string, tokens: string[] | undefined): void {
    if (tokens === undefined || tokens.length === 0) return;
    const list = this.pending.get(id);
    this.pending.set(id, list === undefined ? tokens : [...tokens, ...list]);
  }

  /** Sends every pending acknowledgement on its own; resolves once they are answered. */
  flush(): Promise<void> {
    const sends: Array<Promise<void>> = [];
    for (const id of [...this.pending.keys()]) {
      for (let tokens = this.take(id); tokens !== undefined; tokens = this.take(id)) {
        const sent = tokens;
        const send = this.sendAck(id, sent).then(
          () => {},
          (err: unknown) => {
            // A queue deleted since, or a client closed: nothing left to say. Otherwise the
            // next call on the queue carries them (until then their lease runs on).
            if (!(err instanceof NotFoundError) && !(err instanceof ClosedError)) this.restore(id, sent);
          },
        );
        this.sending.add(send);
        void send.then(() => this.sending.delete(send));
        sends.push(send);
      }
    }
    return Promise.all(sends).then(() => {});
  }

  /** Sends what is pending and waits for every acknowledgement in flight (a client closing). */
  async settle(): Promise<void> {
    await this.flush();
    await Promise.all(this.sending);
  }
}
