import type { Clock } from "../../proto/api.ts";

/** A clock that moves only when a test says so: expiry tests jump it instead of sleeping. */
export class ManualClock implements Clock {
  constructor(private ms = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}
