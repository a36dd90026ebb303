// The sweeper: one process at a time removes what has expired (partitions past their TTL,
// dict entries past theirs, ephemeral objects whose heartbeats stopped, records of request
// ids past their retention), makes the dead-letter moves of leases that ended (through the
// engine's rounds, leases.ts), and drops the larder_moved rows of items gone since. Reads never
// return expired data on their own; the sweep is what frees the rows. The process that
// sweeps is elected by a lease row (larder_leases 'sweeper'): it takes the row when the
// lease has run out on the database's clock and renews it on each pass. A row, not an
// advisory lock, so that the design carries over to engines without advisory locks.

import type pg from "pg";
import type { Clock } from "../proto/api.ts";
import { transaction } from "./db.ts";
import { pruneRequests } from "./requests.ts";
import { STATS_STRIPES } from "./schema.ts";
import { CHANNEL, partitionToken } from "./wakeups.ts";
import { DEAD_LETTER_DUE } from "./leases.ts";

const SWEEP_INTERVAL_MS = 1_000;
/** A lease outlives a few missed passes: a process that stops sweeping hands over within this. */
const LEASE_MS = 5_000;
const PAGE_ROWS = 256;
const PAGES_PER_PASS_MAX = 40;

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
    private readonly holder: string,
    private readonly ephemeralExpiryMs: number,
    private readonly requestIdRetentionMs: number,
    private readonly onRemoved: (tokens: string[]) => void,
    /** Makes the dead-letter moves due in these queues (a round of the engine). */
    private readonly settle: (queueIds: string[]) => Promise<void>,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.pass().catch(() => {}).finally(() => {
        this.running = undefined;
      });
    }, SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    // Hand the lease over at once rather than after it runs out.
    await this.pool.query("UPDATE larder_leases SET expires_at = '-infinity' WHERE name = 'sweeper' AND holder = $1", [this.holder]).catch(() => {});
  }

  /** Takes or renews the lease; true when this process is the sweeper. */
  private async elected(): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE larder_leases SET holder = $1, expires_at = now() + $2 * interval '1 millisecond'
       WHERE name = 'sweeper' AND (holder = $1 OR expires_at < now())`,
      [this.holder, LEASE_MS],
    );
    return rowCount === 1;
  }

  private async pass(): Promise<void> {
    if (this.stopped || !(await this.elected())) return;
    for (let page = 0; page < PAGES_PER_PASS_MAX && !this.stopped; page++) {
      const now = this.clock.now();
      const removed =
        (await this.partitions(now)) + (await this.entries(now)) + (await this.ephemeral()) + (await pruneRequests(this.pool, now - this.requestIdRetentionMs)) +
        (await this.deadLetters(now)) + (await this.moved());
      if (removed === 0) return;
    }
  }

  /** Removes a page of expired partitions with their items. */
  private async partitions(now: number): Promise<number> {
    const gone = await transaction(this.pool, async (client) => {
      const { rows } = await client.query<{ queue_id: string; pkey: Buffer }>(
        `DELETE FROM larder_partitions WHERE (queue_id, pkey) IN (
           SELECT queue_id, pkey FROM larder_partitions WHERE expires_at <= $1 ORDER BY queue_id, pkey LIMIT $2 FOR UPDATE)
         AND expires_at <= $1 RETURNING queue_id, pkey`,
        [now, PAGE_ROWS],
      );
      if (rows.length === 0) return rows;
      // A later statement, a later snapshot: every item committed before the rows were locked is seen.
      await client.query(
        "DELETE FROM larder_items i USING unnest($1::text[], $2::bytea[]) AS g(q, k) WHERE i.queue_id = g.q AND i.pkey = g.k",
        [rows.map((r) => r.queue_id), rows.map((r) => r.pkey)],
      );
      await client.query(
        "DELETE FROM larder_reservations i USING unnest($1::text[], $2::bytea[]) AS g(q, k) WHERE i.queue_id = g.q AND i.pkey = g.k",
        [rows.map((r) => r.queue_id), rows.map((r) => r.pkey)],
      );
      return rows;
    });
    // Putters waiting on an expired partition get in now.
    if (gone.length > 0) this.onRemoved(gone.map((r) => partitionToken(r.queue_id, r.pkey)));
    return gone.length;
  }

  /** Queues with dead-letter moves due: the engine makes them (and its round's NOTIFY wakes getters of the dead-letter partitions). */
  private async deadLetters(now: number): Promise<number> {
    const { rows } = await this.pool.query<{ queue_id: string }>(
      `SELECT DISTINCT queue_id FROM (SELECT queue_id FROM larder_reservations WHERE ${DEAD_LETTER_DUE} AND deadline <= $1 LIMIT $2) AS d`,
      [now, PAGE_ROWS],
    );
    if (rows.length === 0) return 0;
    await this.settle(rows.map((r) => r.queue_id));
    return 0;
  }

  /**
   * Drops a page of larder_moved rows whose item is gone (got, acked, cleared, expired):
   * their partition row is gone or of another incarnation, or the item is below head and
   * not held. An ack of a reservation of it then resolves, as it should.
   */
  private async moved(): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM larder_moved m WHERE (m.queue_id, m.origin) IN (
         SELECT v.queue_id, v.origin FROM larder_moved v LEFT JOIN larder_partitions p ON p.queue_id = v.queue_id AND p.pkey = v.pkey
         WHERE p.gen IS NULL OR p.gen <> v.gen
            OR (v.seq < p.head AND NOT EXISTS (SELECT 1 FROM larder_reservations r WHERE r.queue_id = v.queue_id AND r.pkey = v.pkey AND r.seq = v.seq))
         LIMIT $1)`,
      [PAGE_ROWS],
    );
    return rowCount ?? 0;
  }

  /** Removes a page of expired dict entries, keeping each dict's counters exact. */
  private async entries(now: number): Promise<number> {
    return transaction(this.pool, async (client) => {
      const { rows: due } = await client.query<{ dict_id: string }>(
        "SELECT DISTINCT dict_id FROM (SELECT dict_id FROM larder_dict_entries WHERE expires_at <= $1 LIMIT $2) AS d ORDER BY dict_id",
        [now, PAGE_ROWS],
      );
      if (due.length === 0) return 0;
      const dicts = due.map((d) => d.dict_id);
      const stripe = Math.floor(Math.random() * STATS_STRIPES);
      // The counter stripe before the entries, in the order rounds take them.
      await client.query("SELECT 1 FROM larder_dict_stats WHERE dict_id = ANY($1::text[]) AND stripe = $2 ORDER BY dict_id FOR UPDATE", [dicts, stripe]);
      const { rows } = await client.query<{ dict_id: string; n: number; bytes: number }>(
        `WITH gone AS (
           DELETE FROM larder_dict_entries WHERE (dict_id, key) IN (
             SELECT dict_id, key FROM larder_dict_entries WHERE dict_id = ANY($1::text[]) AND expires_at <= $2 LIMIT $3)
           AND expires_at <= $2 AND value IS NOT NULL
           RETURNING dict_id, octet_length(key) + octet_length(value) AS size)
         SELECT dict_id, count(*)::bigint AS n, sum(size)::bigint AS bytes FROM gone GROUP BY dict_id`,
        [dicts, now, PAGE_ROWS],
      );
      if (rows.length > 0) {
        await client.query(
          `UPDATE larder_dict_stats s SET count = s.count - u.n, bytes = s.bytes - u.b
           FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(d, n, b) WHERE s.dict_id = u.d AND s.stripe = $4`,
          [rows.map((r) => r.dict_id), rows.map((r) => r.n), rows.map((r) => r.bytes), stripe],
        );
      }
      return rows.reduce((sum, r) => sum + r.n, 0);
    });
  }

  /** Deletes ephemeral objects whose heartbeats (or whose process's keep-alives) stopped. */
  private async ephemeral(): Promise<number> {
    return transaction(this.pool, async (client) => {
      const { rows } = await client.query<{ id: string; kind: string }>(
        `DELETE FROM larder_objects WHERE id IN (
           SELECT id FROM larder_objects WHERE ephemeral AND heartbeat_at < now() - $1 * interval '1 millisecond' LIMIT $2)
         RETURNING id, kind`,
        [this.ephemeralExpiryMs, PAGE_ROWS],
      );
      const queues = rows.filter((r) => r.kind === "queue").map((r) => r.id);
      if (queues.length > 0) {
        await client.query("DELETE FROM larder_items WHERE queue_id = ANY($1::text[])", [queues]);
        await client.query("DELETE FROM larder_reservations WHERE queue_id = ANY($1::text[])", [queues]);
        await client.query("DELETE FROM larder_moved WHERE queue_id = ANY($1::text[])", [queues]);
        await client.query("SELECT pg_notify($1, $2)", [CHANNEL, queues.join(",").slice(0, 7_900)]);
      }
      return rows.length;
    });
  }
}
