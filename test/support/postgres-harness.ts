// Conformance harnesses on PostgreSQL: one server started per test file, one database, and
// each store in a fresh schema of it (through the connection string's search_path), so
// that every test starts empty without the cost of a new database. `reopen` closes the
// store and opens the same schema again.
//
// The two-process harnesses give each test a split store (split-store.ts): its calls go in
// turn to two Stores on the schema, one in this process and one served by a child process
// ("processes": open({ postgres }) here, startServer({ postgres }) there), or to two
// servers in two child processes ("servers"), clients on both. A test that passes a
// clock (a ManualClock cannot cross processes) gets its two Stores in this process.

import pg from "pg";
import type { OpenOptions, Store } from "../../proto/api.ts";
import { open } from "../../index.ts";
import { connect } from "../../client/index.ts";
import { startServer } from "../../server/index.ts";
import type { FactoryOptions, Harness } from "../conformance/index.ts";
import { startPostgres, type PgCluster } from "./postgres.ts";
import { Peer } from "./postgres-peer-client.ts";
import { splitStore } from "./split-store.ts";

export interface PostgresHarness extends Harness {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `via: "embedded"` opens the store in process; `via: "http"` serves it with
 * startServer({ postgres }) and connects; "processes" and "servers" split each store over
 * two processes (see above).
 */
export function postgresHarness(name: string, via: "embedded" | "http" | "processes" | "servers"): PostgresHarness {
  let cluster: PgCluster | undefined;
  let database = "";
  let admin: pg.Client | undefined;
  let schemas = 0;
  const urlOf = new Map<Store, string>();
  const peers: Peer[] = [];

  async function freshSchema(): Promise<string> {
    const schema = `s${++schemas}`;
    await admin!.query(`CREATE SCHEMA ${schema}`);
    return `${database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  }

  /** A client of a server on `url` in a child process. */
  async function remote(peer: Peer, url: string, options: FactoryOptions): Promise<Store> {
    const { environment, limits } = options;
    const served = await peer.open(url, { ...(limits === undefined ? {} : { limits }), ...(environment === undefined ? {} : { environment }) });
    const client = await connect(served.url, environment === undefined ? {} : { environment });
    const close = async (): Promise<void> => {
      try {
        await client.close();
      } finally {
        await served.close();
      }
    };
    return { dicts: client.dicts, queues: client.queues, close, [Symbol.asyncDispose]: close };
  }

  async function split(url: string, options: FactoryOptions): Promise<Store> {
    const inProcess = options.clock !== undefined;
    const kind = via === "processes" ? "embedded" : "http";
    const [a, b] = await Promise.all([
      inProcess || via === "processes" ? single(url, options, kind) : remote(peers[0]!, url, options),
      inProcess ? single(url, options, kind) : remote(peers[via === "processes" ? 0 : 1]!, url, options),
    ]);
    const close = async (): Promise<void> => {
      await Promise.allSettled([a.close(), b.close()]);
    };
    return splitStore(a, b, close);
  }

  async function openAt(url: string, options: FactoryOptions = {}): Promise<Store> {
    const store = via === "embedded" || via === "http" ? await single(url, options, via) : await split(url, options);
    urlOf.set(store, url);
    return store;
  }

  async function single(url: string, options: FactoryOptions, kind: "embedded" | "http"): Promise<Store> {
    let store: Store;
    if (kind === "embedded") {
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
    return store;
  }

  return {
    name,
    supports: { persistence: true },
    async start() {
      cluster = await startPostgres({ noFsync: true });
      database = await cluster.createDatabase();
      admin = new pg.Client({ connectionString: database });
      await admin.connect();
      const count = via === "processes" ? 1 : via === "servers" ? 2 : 0;
      for (let i = 0; i < count; i++) peers.push(await Peer.start());
    },
    async stop() {
      await Promise.allSettled(peers.splice(0).map((p) => p.stop()));
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
