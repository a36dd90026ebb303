// The tables of the PostgreSQL backend, created and migrated by Larder itself. The schema
// version is one row of `larder_version`; `migrate()` runs under that row's lock (a row
// lock, as everywhere else), so that processes opening a new database at
// once create the tables once. docs/postgres.md explains every table and the arithmetic.
//
//   larder_version       (version)                                   one row; DO NOT CHANGE its shape
//   larder_objects       (id, kind, name, environment, created_at, ...)  one row per Dict or Queue
//   larder_dict_entries  (dict_id, key, value, expires_at)           one row per entry
//   larder_dict_stats    (dict_id, stripe, count, bytes)             STRIPES rows per dict: exact len, no hot row
//   larder_partitions    (queue_id, pkey, gen, head, head_run, tail, expires_at, held, moved_to)  one row per partition: its lock and its len
//   larder_items         (queue_id, pkey, seq, value)                one row per run of items (runs.ts), seq its first
//   larder_leases        (name, holder, expires_at)                  who sweeps expired data
//   larder_requests      (id, recorded_at, outcome)                  applied request ids (requests.ts); from version 2
//   larder_reservations  (queue_id, pkey, seq, owner, ord, leased, deadline, deliveries, ...)  one row per held item (leases.ts); from 3
//   larder_moved         (queue_id, origin, pkey, gen, seq, deliveries)  where a dead-lettered item went, per place it was; from 3

import type pg from "pg";

/** The version this code writes. Bump it with a new entry in MIGRATIONS. */
export const SCHEMA_VERSION = 4;

/** Stripes of a dict's counters: a transaction adds to one, `len` sums them. */
export const STATS_STRIPES = 16;

/** MIGRATIONS[v] takes a database at version v to v + 1. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE larder_objects (
    id            text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('dict', 'queue')),
    name          text,
    environment   text NOT NULL,
    created_at    double precision NOT NULL,
    created_order bigint GENERATED ALWAYS AS IDENTITY,
    ephemeral     boolean NOT NULL,
    entry_ttl_ms  double precision,
    heartbeat_at  timestamptz,
    kept_by       text,
    UNIQUE (kind, environment, name)
  );
  CREATE INDEX larder_objects_ephemeral ON larder_objects (heartbeat_at) WHERE ephemeral;

  CREATE TABLE larder_dict_entries (
    dict_id    text NOT NULL REFERENCES larder_objects (id) ON DELETE CASCADE,
    key        bytea NOT NULL,
    value      bytea,
    expires_at double precision NOT NULL DEFAULT 'Infinity',
    PRIMARY KEY (dict_id, key)
  );
  CREATE INDEX larder_dict_entries_due ON larder_dict_entries (expires_at) WHERE expires_at < 'Infinity';
  CREATE INDEX larder_dict_entries_dict_due ON larder_dict_entries (dict_id, expires_at) WHERE expires_at < 'Infinity';

  CREATE TABLE larder_dict_stats (
    dict_id text NOT NULL REFERENCES larder_objects (id) ON DELETE CASCADE,
    stripe  smallint NOT NULL,
    count   bigint NOT NULL,
    bytes   bigint NOT NULL,
    PRIMARY KEY (dict_id, stripe)
  );

  CREATE TABLE larder_partitions (
    queue_id   text NOT NULL REFERENCES larder_objects (id) ON DELETE CASCADE,
    pkey       bytea NOT NULL,
    gen        bigint NOT NULL,
    head       bigint NOT NULL,
    head_run   bigint NOT NULL,
    tail       bigint NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (queue_id, pkey),
    CHECK (head_run <= head AND head <= tail)
  );
  CREATE INDEX larder_partitions_due ON larder_partitions (expires_at) WHERE expires_at < 'Infinity';

  CREATE TABLE larder_items (
    queue_id text NOT NULL,
    pkey     bytea NOT NULL,
    seq      bigint NOT NULL,
    value    bytea NOT NULL,
    PRIMARY KEY (queue_id, pkey, seq)
  );

  CREATE TABLE larder_leases (
    name       text PRIMARY KEY,
    holder     text,
    expires_at timestamptz NOT NULL DEFAULT '-infinity'
  );
  INSERT INTO larder_leases (name) VALUES ('sweeper');
  `,
  // 1 -> 2: request ids applied once (requests.ts). `outcome` is NULL only while the
  // transaction that claimed the id runs: it writes the outcome or deletes the row.
  `
  CREATE TABLE larder_requests (
    id          text PRIMARY KEY,
    recorded_at double precision NOT NULL,
    outcome     bytea
  );
  CREATE INDEX larder_requests_age ON larder_requests (recorded_at);
  `,
  // 2 -> 3: reservations (leases.ts). A partition's `held` counts its items below head that
  // are still in it (reserved, delayed or visible again: one larder_reservations row each),
  // so that len stays tail - head + held without a scan. `moved_to` is past the last item
  // dead-lettered into the partition: below it, larder_moved may name items by their place.
  `
  ALTER TABLE larder_partitions ADD COLUMN held bigint NOT NULL DEFAULT 0, ADD COLUMN moved_to bigint NOT NULL DEFAULT 0;
  CREATE TABLE larder_reservations (
    queue_id       text NOT NULL,
    pkey           bytea NOT NULL,
    seq            bigint NOT NULL,
    owner          bigint NOT NULL,
    ord            bigint NOT NULL,
    leased         boolean NOT NULL,
    deadline       double precision NOT NULL,
    deliveries     bigint NOT NULL,
    max_deliveries bigint NOT NULL,
    dead_letter    bytea,
    value          bytea NOT NULL,
    PRIMARY KEY (queue_id, pkey, seq)
  );
  CREATE INDEX larder_reservations_due ON larder_reservations (queue_id, deadline)
    WHERE leased AND max_deliveries > 0 AND deliveries >= max_deliveries;
  CREATE INDEX larder_reservations_ends ON larder_reservations (deadline) WHERE deadline > '-Infinity';
  CREATE TABLE larder_moved (
    queue_id   text NOT NULL,
    origin     text NOT NULL,
    pkey       bytea NOT NULL,
    gen        bigint NOT NULL,
    seq        bigint NOT NULL,
    deliveries bigint NOT NULL,
    PRIMARY KEY (queue_id, origin)
  );
  CREATE INDEX larder_moved_at ON larder_moved (queue_id, pkey, seq);
  `,
  // 3 -> 4: a partition's held rows by deadline, so that a reserve or get finds the visible
  // ones (deadline passed) without reading every reserved row of the partition, and a wait
  // finds the next lease end, and partitions() counts the reserved, by an index range.
  `
  DROP INDEX larder_reservations_ends;
  CREATE INDEX larder_reservations_deadline ON larder_reservations (queue_id, pkey, deadline);
  `,
];

/**
 * Creates the tables, or migrates them to SCHEMA_VERSION. Refuses a database written by a
 * newer Larder. Concurrent callers: the first creates `larder_version` and holds its row
 * lock while it migrates; the others wait on that lock and find the work done.
 */
export async function migrate(client: pg.ClientBase): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query("CREATE TABLE IF NOT EXISTS larder_version (version integer NOT NULL)");
    await client.query("INSERT INTO larder_version (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM larder_version)");
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    // Two processes creating the table at once: one fails on the catalog's unique index; the row is there after.
    if (!isUniqueViolation(err)) throw err;
  }
  await client.query("BEGIN");
  try {
    const { rows } = await client.query<{ version: number }>("SELECT version FROM larder_version FOR UPDATE");
    const version = rows[0]?.version ?? 0;
    if (version > SCHEMA_VERSION) {
      throw new Error(`the database has Larder schema version ${version}; this Larder knows up to ${SCHEMA_VERSION}: upgrade Larder`);
    }
    for (let v = version; v < SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]!);
    if (version !== SCHEMA_VERSION) await client.query("UPDATE larder_version SET version = $1", [SCHEMA_VERSION]);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

/**
 * The other creator won: a unique index of the catalog (23505), the table (42P07) or its
 * row type (42710, duplicate_object) exists already.
 */
function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === "23505" || code === "42P07" || code === "42710";
}
