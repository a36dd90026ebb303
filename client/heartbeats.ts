// Keeps the ephemeral objects a remote client made alive: one unref'd timer sends a
// heartbeat for each of them every interval. An object the server reports gone is
// forgotten; other failures are left for the next round (the server's expiry is many
// intervals long).

import type { ObjectKind } from "../proto/backend.ts";
import { NotFoundError } from "../proto/errors.ts";

export type SendHeartbeat = (kind: ObjectKind, id: string) => Promise<void>;

export class Heartbeats {
  private readonly objects = new Map<string, ObjectKind>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly send: SendHeartbeat,
  ) {}

  add(kind: ObjectKind, id: string): void {
    this.objects.set(id, kind);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  remove(id: string): void {
    this.objects.delete(id);
    if (this.objects.size === 0) this.stopTimer();
  }

  stop(): void {
    this.objects.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    // A round still running (slow server) is not doubled up.
    this.round ??= this.beat().finally(() => {
      this.round = undefined;
    });
  }

  private async beat(): Promise<void> {
    await Promise.all(
      [...this.objects].map(async ([id, kind]) => {
        try {
          await this.send(kind, id);
        } catch (err) {
          if (err instanceof NotFoundError) this.objects.delete(id);
        }
      }),
    );
  }
}
