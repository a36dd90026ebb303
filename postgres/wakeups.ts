// Wake-ups across processes. A transaction that puts into a partition (or makes room in
// one) sends one NOTIFY for the whole transaction, naming the partitions it touched; every
// process LISTENs on one dedicated connection and retries the waits it holds on those
// partitions. LISTEN registrations are lost with their connection (a restart, a failover),
// so the listener reconnects with backoff and then wakes everything, and a slow poll of
// every waiting partition backs it all up.

import pg from "pg";

export const CHANNEL = "larder_wake";
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const PAYLOAD_BYTES_MAX = 7_900;
/** Token for "every partition of every queue": a payload too long to list them. */
export const WAKE_ALL = "*";

/** A partition's name in payloads: queue id, a slash, the partition key in hex. */
export function partitionToken(queueId: string, pkey: Uint8Array): string {
  return `${queueId}/${Buffer.from(pkey.buffer, pkey.byteOffset, pkey.byteLength).toString("hex")}`;
}

/** One payload for a set of tokens (queue ids alone wake every partition of that queue). */
export function payloadOf(tokens: Iterable<string>): string {
  let out = "";
  for (const token of tokens) {
    if (out.length + token.length + 1 > PAYLOAD_BYTES_MAX) return WAKE_ALL;
    out = out.length === 0 ? token : `${out},${token}`;
  }
  return out;
}

export class Listener {
  private client: pg.Client | undefined;
  private closed = false;
  private retryMs = 100;
  private timer: NodeJS.Timeout | undefined;
  /** Resolves once the first LISTEN is in place (or failed). */
  readonly ready: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly onWake: (token: string) => void,
  ) {
    this.ready = this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 2_000 });
    client.on("error", () => this.lost(client));
    client.on("end", () => this.lost(client));
    client.on("notification", (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      for (const token of message.payload.split(",")) this.onWake(token);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      this.client = client;
      this.retryMs = 100;
      if (this.closed) await client.end().catch(() => {});
    } catch {
      await client.end().catch(() => {});
      this.schedule();
    }
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    // Notifications sent while we were not listening are gone: every wait looks again.
    this.onWake(WAKE_ALL);
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, this.retryMs);
    this.timer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 2_000);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
