// Leases on ephemeral objects. A remote client keeps each ephemeral object it made alive
// with heartbeats; every heartbeat (and the creation itself) moves the object's expiry to
// now + ephemeralExpiryMs, and the reaper deletes objects whose expiry has passed. Leases
// live in memory only: at start the server gives every ephemeral object it finds on disk a
// fresh lease, so an object outlives a restart by at most one expiry and its client, if
// still running, keeps it alive by heartbeating again.
//
// Time comes from the store's clock (`options.clock`), so tests of expiry move a manual
// clock instead of sleeping; the reaper itself runs on a real, unref'd timer.

import type { Clock } from "../proto/api.ts";
import type { ObjectKind } from "../proto/backend.ts";
import { NotFoundError, UnavailableError } from "../proto/errors.ts";

interface Lease {
  readonly kind: ObjectKind;
  expiresAtMs: number;
}

export interface LeaseOptions {
  readonly clock: Clock;
  readonly expiryMs: number;
  readonly reapIntervalMs: number;
  /** Deletes one expired object; NotFoundError means it was already gone. */
  readonly deleteObject: (kind: ObjectKind, id: string) => Promise<void>;
  readonly logError: (message: string, error: unknown) => void;
}

export class Leases {
  private readonly leases = new Map<string, Lease>();
  private timer: NodeJS.Timeout | undefined;
  private reaping: Promise<void> | undefined;

  constructor(private readonly options: LeaseOptions) {}

  /** Starts (or restarts) the lease of an ephemeral object. */
  start(kind: ObjectKind, id: string): void {
    this.leases.set(id, { kind, expiresAtMs: this.options.clock.now() + this.options.expiryMs });
  }

  /** A heartbeat: extends the lease of a known ephemeral object; others have none. */
  extend(id: string): void {
    const lease = this.leases.get(id);
    if (lease !== undefined) lease.expiresAtMs = this.options.clock.now() + this.options.expiryMs;
  }

  /** Whether the object has a lease. */
  has(id: string): boolean {
    return this.leases.has(id);
  }

  /**
   * Gives every lease a fresh expiry: after the store was down (reopening after a storage
   * failure), clients could not send heartbeats, and their objects must not be reaped for it.
   */
  renewAll(): void {
    const expiresAtMs = this.options.clock.now() + this.options.expiryMs;
    for (const lease of this.leases.values()) lease.expiresAtMs = expiresAtMs;
  }

  forget(id: string): void {
    this.leases.delete(id);
  }

  get size(): number {
    return this.leases.size;
  }

  startReaper(): void {
    this.timer = setInterval(() => {
      this.reaping ??= this.reap().finally(() => {
        this.reaping = undefined;
      });
    }, this.options.reapIntervalMs);
    this.timer.unref();
  }

  /** Stops the reaper and waits for a pass in progress, so the engine can close after. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.reaping;
  }

  /** Deletes every object whose lease has expired; one pass. */
  async reap(): Promise<void> {
    const now = this.options.clock.now();
    const expired = [...this.leases].filter(([, lease]) => lease.expiresAtMs <= now);
    for (const [id, lease] of expired) {
      this.leases.delete(id);
      try {
        await this.options.deleteObject(lease.kind, id);
      } catch (err) {
        // The store is being reopened after a storage failure: the next pass tries again.
        if (err instanceof UnavailableError) {
          if (!this.leases.has(id)) this.leases.set(id, lease);
          continue;
        }
        if (!(err instanceof NotFoundError)) this.options.logError(`reaping ephemeral ${lease.kind} ${id} failed`, err);
      }
    }
  }
}
