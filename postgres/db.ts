// Connections and transactions. Every change is one transaction run by `transaction()`:
// READ COMMITTED with explicit row locks (SELECT ... FOR UPDATE), retried whole on a
// serialization failure or a deadlock, so that only row locks and retries are relied on
// (the portable subset; docs/postgres.md). A lost connection before COMMIT was sent is
// retried too, within a bounded budget; a connection lost while COMMIT was in flight
// leaves the outcome unknown, and that is answered as UnavailableError, never retried, so
// that nothing is applied twice.

import pg from "pg";
import { UnavailableError } from "../proto/errors.ts";

/** Retries of a transaction that lost a serialization race or a deadlock. */
const CONFLICT_RETRIES_MAX = 30;
/** How long calls keep trying to reach the database before UnavailableError. */
export const UNAVAILABLE_BUDGET_MS = 10_000;
const CONNECT_TIMEOUT_MS = 2_000;

const INT8_OID = 20;

/** int8 columns as numbers: sequence numbers, counts and bytes stay far below 2^53. */
function parseInt8(text: string): number {
  return Number(text);
}

export function makePool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    types: {
      getTypeParser(oid: number, format?: string) {
        if (oid === INT8_OID && format !== "binary") return parseInt8;
        return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
      },
    } as pg.CustomTypesConfig,
  });
  // An idle client that loses its connection emits here; the next checkout gets a new one.
  pool.on("error", () => {});
  return pool;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A serialization failure or a deadlock: the transaction did nothing, run it again. */
export function isConflict(err: unknown): boolean {
  const code = codeOf(err);
  return code === "40001" || code === "40P01";
}

/** The database could not be reached, or went away (shutdown, failover, a cut connection). */
export function isConnectionError(err: unknown): boolean {
  const code = codeOf(err);
  if (code === undefined) {
    const message = err instanceof Error ? err.message : "";
    return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(message);
  }
  return (
    code.startsWith("08") || // connection exception
    code === "57P01" || code === "57P02" || code === "57P03" || // admin shutdown, crash shutdown, cannot connect now
    code === "25006" || // read-only transaction: a standby not promoted yet
    code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EPIPE" || code === "EHOSTUNREACH" || code === "ENOTFOUND"
  );
}

/** Thrown by `transaction` when COMMIT was sent and no answer came: the outcome is unknown. */
export class CommitUnknownError extends UnavailableError {}

export interface TransactionOptions {
  /** Called before each retry (to reset state the body builds up). */
  onRetry?: () => void;
  /** Checked before each attempt: a closed store stops retrying. */
  stopped?: () => Error | undefined;
}

/**
 * Runs `body` in a transaction and commits it, retrying on conflicts and on connections
 * lost before COMMIT. The body must be safe to run again from the start.
 */
export async function transaction<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  let conflicts = 0;
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    const stop = options.stopped?.();
    if (stop) throw stop;
    if (attempt > 0) options.onRetry?.();
    let client: pg.PoolClient | undefined;
    let committing = false;
    // A checked-out client emits 'error' when its connection dies between two queries (the
    // server killed, a failover): without a listener that would end the process. The
    // failure also reaches the next query, which is where it is handled.
    const ignore = (): void => {};
    try {
      client = await pool.connect();
      client.on("error", ignore);
      await client.query("BEGIN");
      const result = await body(client);
      committing = true;
      await client.query("COMMIT");
      client.off("error", ignore);
      client.release();
      return result;
    } catch (err) {
      if (client) {
        client.off("error", ignore);
        const broken = isConnectionError(err);
        if (!broken && !committing) await client.query("ROLLBACK").catch(() => {});
        client.release(broken || committing ? true : undefined);
      }
      if (committing && isConnectionError(err)) {
        throw new CommitUnknownError("the database connection was lost while a write committed: it may or may not have taken effect", { cause: err });
      }
      if (isConflict(err) && ++conflicts <= CONFLICT_RETRIES_MAX) {
        await sleep(Math.random() * Math.min(50, 2 ** conflicts));
        continue;
      }
      if (isConnectionError(err)) {
        if (Date.now() - started < UNAVAILABLE_BUDGET_MS) {
          await sleep(Math.min(500, 25 * 2 ** Math.min(attempt, 5)));
          continue;
        }
        throw new UnavailableError(`the PostgreSQL database is unreachable (${err instanceof Error ? err.message : String(err)}), after ${UNAVAILABLE_BUDGET_MS} ms of retries`, { cause: err });
      }
      throw err;
    }
  }
}

/**
 * One statement on its own (autocommit), retried like a transaction's body: for reads, and
 * for writes that may safely run twice (a TTL refresh). Saves BEGIN and COMMIT.
 */
export async function single<R extends pg.QueryResultRow>(pool: pg.Pool, text: string, values: unknown[], options: TransactionOptions = {}): Promise<pg.QueryResult<R>> {
  let conflicts = 0;
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    const stop = options.stopped?.();
    if (stop) throw stop;
    try {
      return await pool.query<R>(text, values);
    } catch (err) {
      if (isConflict(err) && ++conflicts <= CONFLICT_RETRIES_MAX) {
        await sleep(Math.random() * Math.min(50, 2 ** conflicts));
        continue;
      }
      if (isConnectionError(err)) {
        if (Date.now() - started < UNAVAILABLE_BUDGET_MS) {
          await sleep(Math.min(500, 25 * 2 ** Math.min(attempt, 5)));
          continue;
        }
        throw new UnavailableError(`the PostgreSQL database is unreachable (${err instanceof Error ? err.message : String(err)}), after ${UNAVAILABLE_BUDGET_MS} ms of retries`, { cause: err });
      }
      throw err;
    }
  }
}

/** One statement outside a transaction, with the same retries (reads). */
export function query<R extends pg.QueryResultRow>(pool: pg.Pool, text: string, values: unknown[] = [], options: TransactionOptions = {}): Promise<pg.QueryResult<R>> {
  return transaction(pool, (client) => client.query<R>(text, values), options);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
