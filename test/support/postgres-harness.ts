// Conformance harnesses on PostgreSQL: one server started per test file, one database, and
// each store in a fresh schema of it (through the connection string's search_path), so
// that every test starts empty without the cost of a new database. `reopen` closes the
// store and opens the same schema again.

import pg from "pg";
import type { OpenOptions, Store } from "../../proto/api.ts";
import { open } from "../../index.ts";
import { connect } from "../../client/index.ts";
import { startServer } from "../../server/index.ts";
import type { FactoryOptions, Harness } from "../conformance/index.ts";
import { startPostgres, type PgCluster } from "./postgres.ts";
import { RESERVATIONS_UNSUPPORTED } from "../../postgres/engine.ts";

export interface PostgresHarness extends Harness {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** `via: "embedded"` opens the store in process; `via: "http"` serves it with startServer({ postgres }) and connects. */
export function postgresHarness(name: string, via: "embedded" | "http"): PostgresHarness {
  let cluster: PgCluster | undefined;
  let database = "";
  let admin: pg.Client | undefined;
  let schemas = 0;
  const urlOf = new Map<Store, string>();

  async function freshSchema(): Promise<string> {
    const schema = `s${++schemas}`;
    await admin!.query(`CREATE SCHEMA ${schema}`);
    return `${database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  }

  async function openAt(url: string, options: FactoryOptions = {}): Promise<Store> {
    let store: Store;
    if (via === "embedded") {
      store = await open({ ...(options as OpenOptions), postgres: url });
    } else {
      const { environment, ...rest } = options;
      const server = await startServer({ ...rest, postgres: url, port: 0, longPollMaxMs: 1_000, ...(environment === undefined ? {} : { environment }) });
      const client = await connect(server.url, environment === undefined ? {} : { environment });
      const close = async (): Promise<void> => {
        try {
          await client.close();
        } finally {
          await server.close();
        }
      };
      store = { dicts: client.dicts, queues: client.queues, close, [Symbol.asyncDispose]: close };
    }
    urlOf.set(store, url);
    return store;
  }

  return {
    name,
    supports: { persistence: true, reservations: RESERVATIONS_UNSUPPORTED },
    async start() {
      cluster = await startPostgres({ noFsync: true });
      database = await cluster.createDatabase();
      admin = new pg.Client({ connectionString: database });
      await admin.connect();
    },
    async stop() {
      await admin?.end();
      await cluster?.stop();
    },
    async make(options = {}) {
      return openAt(await freshSchema(), options);
    },
    async reopen(store, options = {}) {
      const url = urlOf.get(store);
      if (url === undefined) throw new Error("reopen: this store was not made by the PostgreSQL harness");
      await store.close();
      urlOf.delete(store);
      return openAt(url, options);
    },
    async cleanup() {
      const stores = [...urlOf.keys()];
      urlOf.clear();
      await Promise.allSettled(stores.map((store) => store.close()));
    },
  };
}
