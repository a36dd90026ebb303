// Request ids on PostgreSQL (docs/protocol.md, "Request ids"; docs/postgres.md). A call
// with an id is applied at most once, whichever process or server each attempt reaches:
//
// - The transaction that runs it first CLAIMS the id: it inserts a row of
//   `larder_requests` with no outcome yet (`INSERT ... ON CONFLICT DO NOTHING`). The
//   primary key makes a second attempt's claim wait until the first's transaction ends,
//   in any process: if that one committed, the claim finds its row and the attempt is
//   answered with the recorded outcome; if it rolled back, the claim succeeds and this
//   attempt runs the call.
// - At the end, in the same transaction (the round's write statement), the row gets the
//   call's outcome when the call changed something, and is deleted when it did not (an
//   error, a put that found its key taken, a get that found nothing): as on the embedded
//   engine, such a call records nothing, and running it again is the same as running it
//   once, later. A committed row therefore always holds an outcome.
// - The claim is the look-up: every attempt makes it, so `retry` changes nothing here, and
//   a first attempt pays one index insert, which is its record anyway.
//
// Rows are kept for the retention window on the store's clock and deleted by age by the
// elected sweeper (sweeper.ts), a page at a time.

import type pg from "pg";
import type { CallOptions } from "../proto/backend.ts";
import { InternalError } from "../proto/errors.ts";
import { checkRequestId } from "../proto/requests.ts";
import { packEnvelope, unpackEnvelope } from "../proto/wire.ts";
import { Statement } from "./statement.ts";

/** Records deleted per statement by the sweeper. */
export const PRUNE_PAGE_ROWS = 1_024;

/** The request id of a call, checked; undefined without one (the embedded store never gives one). */
export function requestIdOf(call: CallOptions | undefined): string | undefined {
  if (call === undefined || call.requestId === undefined || call.requestId === null) return undefined;
  return checkRequestId(call.requestId);
}

/** A retry of the transaction: a claimed record went (pruned) between the claim and the read. */
function lostRecord(id: string): Error {
  return Object.assign(new Error(`the record of request ${id} was pruned while it was read`), { code: "40001" });
}

/**
 * The CTE that claims `ids` (sorted, so that two transactions claim shared ids in one
 * order), returning the ids claimed now; the others were recorded by an earlier attempt.
 */
export function claimCte(sql: Statement, ids: readonly string[], now: number): string {
  return sql.cte(
    `INSERT INTO larder_requests AS r (id, recorded_at)
     SELECT u, ${sql.param(now)}::float8 FROM unnest(${sql.param([...ids].sort())}::text[]) AS u ORDER BY u
     ON CONFLICT (id) DO NOTHING RETURNING r.id`,
  );
}

/** The recorded outcomes of ids that an earlier attempt applied (those not claimed now). */
export async function recordedOutcomes(client: pg.ClientBase, ids: readonly string[]): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  if (ids.length === 0) return out;
  const { rows } = await client.query<{ id: string; outcome: Buffer | null }>(
    "SELECT id, outcome FROM larder_requests WHERE id = ANY($1::text[])",
    [ids],
  );
  for (const row of rows) {
    if (row.outcome === null) throw new InternalError(`the record of request ${row.id} has no outcome`);
    out.set(row.id, decodeOutcome(row.id, row.outcome));
  }
  for (const id of ids) if (!out.has(id)) throw lostRecord(id);
  return out;
}

/** Claims the ids and reads the outcomes of those already applied. */
export async function claim(client: pg.ClientBase, ids: readonly string[], now: number): Promise<Map<string, unknown>> {
  if (ids.length === 0) return new Map();
  const statement = new Statement();
  const name = claimCte(statement, ids, now);
  const { rows } = await client.query<{ id: string }>(`WITH ${statement.parts.join(",\n")} SELECT id FROM ${name}`, statement.params);
  const claimed = new Set(rows.map((r) => r.id));
  return recordedOutcomes(client, ids.filter((id) => !claimed.has(id)));
}

/** Adds to a write statement: the outcomes of the calls that changed something, and the claims of those that did not go. */
export function settleCtes(sql: Statement, recorded: ReadonlyArray<readonly [string, unknown]>, dropped: readonly string[]): void {
  if (recorded.length > 0) {
    sql.cte(
      `UPDATE larder_requests r SET outcome = u.o
       FROM unnest(${sql.param(recorded.map(([id]) => id))}::text[], ${sql.param(recorded.map(([, o]) => encodeOutcome(o)))}::bytea[]) AS u(i, o)
       WHERE r.id = u.i`,
    );
  }
  if (dropped.length > 0) sql.cte(`DELETE FROM larder_requests WHERE id = ANY(${sql.param(dropped)}::text[])`);
}

/** The outcome as the embedded engine records it: the envelope `{ o: outcome }`. */
function encodeOutcome(outcome: unknown): Buffer {
  return packEnvelope({ o: outcome });
}

function decodeOutcome(id: string, bytes: Buffer): unknown {
  const envelope = unpackEnvelope(bytes) as { o?: unknown } | null;
  if (envelope === null || typeof envelope !== "object") throw new InternalError(`the record of request ${id} does not parse`);
  return envelope.o;
}

/** Deletes a page of records older than `before` (store's clock); the count deleted. */
export async function pruneRequests(pool: pg.Pool, before: number): Promise<number> {
  const { rowCount } = await pool.query(
    "DELETE FROM larder_requests WHERE id IN (SELECT id FROM larder_requests WHERE recorded_at < $1 LIMIT $2)",
    [before, PRUNE_PAGE_ROWS],
  );
  return rowCount ?? 0;
}
