// The conformance suite: one function that every Store implementation runs unchanged.
//
//   import { conformance } from "./conformance/index.ts";
//   conformance({ name: "embedded in memory", supports: { persistence: false }, make, cleanup });
//
// Each concern is one file in this folder, written only against the public Store interface
// (proto/api.ts). See harness.ts for what an implementation provides.

import { afterEach, describe } from "vitest";
import { argumentsSuite } from "./arguments.ts";
import { dictAtomicitySuite } from "./dict-atomicity.ts";
import { dictBasicSuite } from "./dict-basic.ts";
import { dictIterationSuite } from "./dict-iteration.ts";
import { dictKeysSuite } from "./dict-keys.ts";
import { dictLimitsSuite } from "./dict-limits.ts";
import { dictModelSuite } from "./dict-model.ts";
import { dictTtlSuite } from "./dict-ttl.ts";
import { dictValuesSuite } from "./dict-values.ts";
import { errorsSuite } from "./errors.ts";
import { eventLoopSuite } from "./event-loop.ts";
import type { Harness } from "./harness.ts";
import { lifecycleSuite } from "./lifecycle.ts";
import { objectContentsSuite } from "./object-contents.ts";
import { objectNamesSuite } from "./object-names.ts";
import { objectsSuite } from "./objects.ts";
import { persistenceSuite } from "./persistence.ts";
import { queueBasicSuite } from "./queue-basic.ts";
import { queueBlockingSuite } from "./queue-blocking.ts";
import { queueExpirySuite } from "./queue-expiry.ts";
import { queueFullSuite } from "./queue-full.ts";
import { queueIterateSuite } from "./queue-iterate.ts";
import { queueLenClearSuite } from "./queue-len-clear.ts";
import { queueLimitsSuite } from "./queue-limits.ts";
import { queueModelSuite } from "./queue-model.ts";
import { queuePartitionsSuite } from "./queue-partitions.ts";
import { queueReserveSuite } from "./queue-reserve.ts";
import { queueWorkerSuite } from "./queue-worker.ts";

export type { FactoryOptions, Harness, Supports } from "./harness.ts";

const SUITES: Array<(h: Harness) => void> = [
  objectsSuite,
  objectNamesSuite,
  objectContentsSuite,
  dictBasicSuite,
  dictKeysSuite,
  dictValuesSuite,
  dictAtomicitySuite,
  dictIterationSuite,
  dictLimitsSuite,
  dictTtlSuite,
  dictModelSuite,
  queueBasicSuite,
  queueBlockingSuite,
  queueFullSuite,
  queueLimitsSuite,
  queueExpirySuite,
  queueLenClearSuite,
  queueIterateSuite,
  queueModelSuite,
  queuePartitionsSuite,
  queueReserveSuite,
  queueWorkerSuite,
  lifecycleSuite,
  eventLoopSuite,
  errorsSuite,
  argumentsSuite,
  persistenceSuite,
];

export function conformance(harness: Harness): void {
  describe(`conformance: ${harness.name}`, () => {
    afterEach(() => harness.cleanup());
    for (const suite of SUITES) suite(harness);
  });
}
