// Larder on PostgreSQL under the bench: `open({ postgres })` against a PostgreSQL 15 started
// for the run (test/support/postgres.ts: initdb under a temp folder, fsync on), either a
// primary alone or a primary with a synchronous standby (every commit waits for the
// standby's flush). Same workload primitives as embedded Larder (lib/larder.ts).

import type { Store } from "../../proto/api.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../../test/support/postgres.ts";
import { BENCH_LIMITS } from "./larder-limits.ts";
import { larderPrimitives } from "./larder.ts";
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
