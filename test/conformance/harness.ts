// The conformance suite runs, unchanged, against every Store implementation: embedded on
// disk, embedded in memory, and remote over HTTP. Each test file of an implementation
// calls `conformance(name, factory)`; each concern is one file in this folder.

import type { Clock, Store } from "../../proto/api.ts";
import type { Limits } from "../../proto/limits.ts";

export interface FactoryOptions {
  /** Overrides of the default limits, for tests of limits with small numbers. */
  limits?: Partial<Limits>;
  /** The clock expiry is measured against; tests of expiry pass a ManualClock. */
  clock?: Clock;
  /** Default environment of the store. */
  environment?: string;
}

/** Makes a fresh, empty store; the harness closes every store it made after each test. */
export type StoreFactory = (options?: FactoryOptions) => Promise<Store>;

export interface Supports {
  /** The store's data survives close and reopen (false for memory). */
  persistence: boolean;
}

export interface Harness {
  readonly name: string;
  readonly supports: Supports;
  /** A fresh store, closed by the harness after the test. */
  make(options?: FactoryOptions): Promise<Store>;
  /**
   * Closes `store` and opens the same data again with the given options; only when
   * `supports.persistence`.
   */
  reopen?(store: Store, options?: FactoryOptions): Promise<Store>;
}
