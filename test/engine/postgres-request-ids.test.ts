// Request ids on PostgreSQL (postgres/requests.ts; docs/protocol.md "Request ids"): the
// cases of test/engine/request-ids.test.ts that any backend must pass, on the PostgreSQL
// backend: a call with an id is applied at most once, a retry gets the first outcome, also
// from a store opened again on the same schema, and records go after the retention window;
// and attempts of one id on two stores of one database at once. Seen failing with the
// claim and records removed from postgres/ (ids ignored): a second put of the items, a
// second get taking the next items, written: false, NOT_FOUND, ALREADY_EXISTS.

import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Engine, EngineOptions } from "../../engine/index.ts";
import { InvalidError } from "../../proto/errors.ts";
import { encodeKey } from "../../proto/keys.ts";
import { openPostgres } from "../../postgres/index.ts";
import { ManualClock } from "../support/clock.ts";
import { postgresMissing, startPostgres, type PgCluster } from "../support/postgres.ts";
import { bytes, dictOf, queueOf, requestIdCases, text } from "../support/request-id-cases.ts";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Options = Pick<EngineOptions, "clock" | "requestIdRetentionMs">;

/** A backend under test: where its data lives (a folder, a schema), opening it there, pruning. */
interface Subject {
  name: string;
  missing: string | undefined;
  /** A new, empty place for a store. */
  place(): Promise<string>;
  open(place: string, options?: Options): Promise<Engine>;
  prune(engine: Engine): Promise<void>;
  /** listEphemeral reports this store's ephemeral objects (on PostgreSQL the table is the lease). */
  listsEphemeral: boolean;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

let cluster: PgCluster | undefined;
let database = "";
let schemas = 0;
const postgres: Subject = {
  name: "PostgreSQL",
  missing: postgresMissing(),
  async setup() {
    cluster = await startPostgres({ noFsync: true });
    database = await cluster.createDatabase();
  },
  teardown: async () => cluster?.stop(),
  async place() {
    const schema = `r${++schemas}`;
    const admin = new pg.Client({ connectionString: database });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`).finally(() => admin.end());
    return `${database}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  },
  open: (url, options = {}) => openPostgres({ ...options, postgres: url, ephemeralAtOpen: "keep" }) as Promise<unknown> as Promise<Engine>,
  prune: (engine) => (engine as unknown as { sweeper: { pass(): Promise<void> } }).sweeper.pass(),
  listsEphemeral: false,
};

for (const subject of [postgres]) {
  if (subject.missing) console.warn(`skipping request ids on ${subject.name}: ${subject.missing}`);
  describe.skipIf(subject.missing !== undefined)(`request ids on ${subject.name}`, () => {
    beforeAll(async () => subject.setup?.(), 60_000);
    afterAll(async () => subject.teardown?.());
    requestIds(subject);
    if (subject === postgres) sharedDatabase(subject);
  });
}

/** Two stores on one database, as two servers: attempts of one id reaching both at once. */
function sharedDatabase(subject: Subject): void {
  it("attempts of one id on two stores at once are applied once, and both answer its outcome", async () => {
    const place = await subject.place();
    const [a, b] = await Promise.all([subject.open(place), subject.open(place)]);
    cleanups.push(() => a.close(), () => b.close());
    const q = await queueOf(a);
    const d = await dictOf(a);
    const n = 40;
    await a.queuePut(q, Array.from({ length: n }, (_, i) => bytes(`item${i}`)), { timeoutMs: 0 });
    await a.dictUpdate(d, Array.from({ length: n }, (_, i) => [encodeKey(`k${i}`), bytes(`v${i}`)] as [Uint8Array, Uint8Array]));
    const pairs = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const [gotA, gotB] = await Promise.all([
          a.queueGet(q, 1, { timeoutMs: 0 }, { requestId: `get-${i}` }),
          b.queueGet(q, 1, { timeoutMs: 0 }, { requestId: `get-${i}`, retry: true }),
        ]);
        const [popA, popB] = await Promise.all([
          a.dictPop(d, encodeKey(`k${i}`), { requestId: `pop-${i}` }),
          b.dictPop(d, encodeKey(`k${i}`), { requestId: `pop-${i}`, retry: true }),
        ]);
        const [lockA, lockB] = await Promise.all([
          a.dictPut(d, encodeKey(`lock${i}`), bytes("a"), true, { requestId: `lock-${i}` }),
          b.dictPut(d, encodeKey(`lock${i}`), bytes("b"), true, { requestId: `lock-${i}`, retry: true }),
        ]);
        return { gotA: text(gotA), gotB: text(gotB), popA: text([popA!]), popB: text([popB!]), lockA, lockB };
      }),
    );
    for (const [i, p] of pairs.entries()) {
      expect(p.gotA).toHaveLength(1);
      expect(p.gotB).toEqual(p.gotA);
      expect(p.popA).toEqual([`v${i}`]);
      expect(p.popB).toEqual([`v${i}`]);
      expect([p.lockA, p.lockB]).toEqual([true, true]);
    }
    // Each id took one item: n attempts on each store, n items gone, each once.
    expect(new Set(pairs.map((p) => p.gotA[0])).size).toBe(n);
    expect(await a.queueLen(q, {})).toBe(0);
    expect(await b.dictLen(d)).toBe(n);
  });
}

function requestIds(subject: Subject): void {
  async function folder(): Promise<string> {
    return subject.place();
  }

  async function opened(options: Options & { path?: string; memory?: true }): Promise<Engine> {
    const { path, memory: _memory, ...rest } = options;
    const engine = await subject.open(path ?? (await subject.place()), rest);
    cleanups.push(() => engine.close());
    return engine;
  }

  describe("request ids", () => {
    requestIdCases({ folder, opened, listsEphemeral: subject.listsEphemeral });

    it("records are pruned after the retention window, by the store's clock", async () => {
      const clock = new ManualClock();
      const path = await folder();
      const engine = await opened({ path, clock, requestIdRetentionMs: 10_000 });
      const q = await queueOf(engine);
      await engine.queuePut(q, [bytes("a")], { timeoutMs: 0 }, { requestId: "old-1" });
      clock.advance(5_000);
      await engine.queuePut(q, [bytes("b")], { timeoutMs: 0 }, { requestId: "young-1" });
      clock.advance(6_000);
      // Past the in-memory moment, so that the retries below read the records on disk.
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      await subject.prune(engine);
      // The young record is kept: its retry adds nothing. The old one is gone: its retry runs.
      await engine.queuePut(q, [bytes("b")], { timeoutMs: 0 }, { requestId: "young-1", retry: true });
      expect(await engine.queueLen(q, {})).toBe(2);
      await engine.queuePut(q, [bytes("a")], { timeoutMs: 0 }, { requestId: "old-1", retry: true });
      expect(await engine.queueLen(q, {})).toBe(3);
    });

    it("refuses a malformed request id or retry flag before doing anything", async () => {
      const engine = await opened({ memory: true });
      const q = await queueOf(engine);
      for (const requestId of ["", "a".repeat(65), "has space", "é", 7 as unknown as string]) {
        await expect(engine.queuePut(q, [bytes("x")], { timeoutMs: 0 }, { requestId })).rejects.toBeInstanceOf(InvalidError);
      }
      expect(await engine.queueLen(q, {})).toBe(0);
      await expect(subject.open(await subject.place(), { requestIdRetentionMs: 0 })).rejects.toBeInstanceOf(InvalidError);
    });
  });
}
