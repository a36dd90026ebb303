// The conformance suite against `open({ postgres })`: a real PostgreSQL server started for
// this file (test/support/postgres.ts), one database, and each store in a fresh schema of
// it (through the connection string's search_path), so that every test starts empty
// without the cost of a new database. `reopen` closes the store and opens the same schema.

import { afterAll, beforeAll } from "vitest";
import pg from "pg";
import type { OpenOptions, Store } from "../../proto/api.ts";
import { open } from "../../engine/index.ts";
import { conformance } from "../conformance/index.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";

const missing = postgresMissing();
if (missing) console.warn(`skipping the PostgreSQL conformance suite: ${missing}`);

let cluster: PgCluster | undefined;
let database = "";
let admin: pg.Client | undefined;
let schemas = 0;
const urlOf = new Map<Store, string>();

beforeAll(async () => {
  if (missing) return;
  cluster = await startPostgres({ noFsync: true });
  database = await cluster.createDatabase();
  admin = new pg.Client({ connectionString: database });
  await admin.connect();
}, 60_000);

afterAll(async () => {
  await admin?.end();
  await cluster?.stop();
});

/** A connection string whose tables go into a new, empty schema. */
async function freshSchema(): Promise<string> {
  const schema = `s${++schemas}`;
  await admin!.query(`CREATE SCHEMA ${schema}`);
  return `${database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

async function openAt(url: string, options: OpenOptions = {}): Promise<Store> {
  const store = await open({ ...options, postgres: url });
  urlOf.set(store, url);
  return store;
}

if (!missing) {
  conformance({
    name: "PostgreSQL",
    supports: { persistence: true },
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
  });
}
