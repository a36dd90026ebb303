// The conformance suite runs, unchanged, against every Store implementation: embedded on
// disk, embedded in memory, and remote over HTTP. An implementation's test file builds one
// Harness and calls `conformance(harness)` from ./index.ts; each concern is one file here.
//
// A harness only makes stores. The suite calls `cleanup()` after every test, so a harness
// remembers every store it made (and every folder or server behind them) and frees them
// there; tests never have to close what they made.

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

export interface Supports {
  /** The store's data survives close and reopen (false for memory). When true, `reopen` is required. */
  persistence: boolean;
  /**
   * Queue reservations (spec, "Reliable delivery: reservations"); absent means supported. A
   * string says why not, and the reservation suite is skipped with it.
   */
  reservations?: true | string;
}

export interface Harness {
  /** Shown in the test names, e.g. "embedded on disk". */
  readonly name: string;
  readonly supports: Supports;
  /** A fresh, empty store with these options. */
  make(options?: FactoryOptions): Promise<Store>;
  /**
   * Closes `store` and opens the same data again with the given options (a new process
   * would pass its own clock and limits). Only used when `supports.persistence`.
   */
  reopen?(store: Store, options?: FactoryOptions): Promise<Store>;
  /** Called after each test: closes every store made or reopened, removes their data. */
  cleanup(): Promise<void>;
}
