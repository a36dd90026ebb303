// Larder on PostgreSQL under the bench: `open({ postgres })` against a PostgreSQL 15 started
// for the run (test/support/postgres.ts: initdb under a temp folder, fsync on), either a
// primary alone or a primary with a synchronous standby (every commit waits for the
// standby's flush). Same workload primitives as embedded Larder (lib/larder.ts).

import type { Store } from "../../proto/api.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../../test/support/postgres.ts";
import { BENCH_LIMITS } from "./larder-limits.ts";
import { larderPrimitives } from "./larder.ts";
import { larderWake, summarizeWake, type WakeRecord } from "./wake.ts";
import type { Primitives, Shape, System } from "./workload.ts";

export { postgresMissing };

export class PostgresSystem implements System {
  readonly family = "larder" as const;
  readonly durability = "fsync" as const;
  readonly transport = "embedded" as const;
  private shapes = 0;

  private constructor(
    readonly name: string,
    private readonly cluster: PgCluster,
    private readonly store: Store,
  ) {}

  /** `standby`: a synchronous standby acknowledges every commit too. */
  static async open(standby: boolean): Promise<PostgresSystem> {
    const cluster = await startPostgres({ standby });
    try {
      const url = await cluster.createDatabase("larder_bench");
      const { open } = await import("../../dist/index.js");
      const store = await open({ postgres: url, limits: BENCH_LIMITS });
      return new PostgresSystem(standby ? "larder-postgres-sync" : "larder-postgres", cluster, store);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  primitives(_shape: Shape): Promise<Primitives> {
    return larderPrimitives(this.store, `bench-${this.shapes++}`);
  }

  async close(): Promise<void> {
    try {
      await this.store.close();
    } finally {
      await this.cluster.stop();
    }
  }
}

/**
 * Wake latency on PostgreSQL (primary alone): a getter blocked in the producer's own store,
 * and one blocked in a second store on the same database (its own engine, pool and
 * LISTEN connection: woken only by the NOTIFY, as another process would be).
 */
export async function postgresWake(samples: number, onStep?: (label: string) => void): Promise<WakeRecord[]> {
  const cluster = await startPostgres({});
  const records: WakeRecord[] = [];
  try {
    const url = await cluster.createDatabase("larder_wake");
    const { open } = await import("../../dist/index.js");
    const producer = await open({ postgres: url });
    const other = await open({ postgres: url });
    try {
      onStep?.("wake latency: larder-postgres (same store)");
      records.push({ system: "larder-postgres", ...summarizeWake(await larderWake(producer, producer, samples, SETTLE_MS)) });
      onStep?.("wake latency: larder-postgres (another store, through NOTIFY)");
      records.push({ system: "larder-postgres-notify", ...summarizeWake(await larderWake(other, producer, samples, SETTLE_MS)) });
    } finally {
      await other.close();
      await producer.close();
    }
  } finally {
    await cluster.stop();
  }
  return records;
}

/** A blocked get is registered once its first round has found the partition empty. */
const SETTLE_MS = 10;
