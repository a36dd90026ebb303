// Larder under test, through its public API only: `open()` (embedded, fsync or buffered)
// and `startServer()` (in a child process, lib/server-child.ts) + `connect()` (over HTTP
// on loopback, or over the framed transport, `larder://`). Each system keeps one store
// for the whole run; each shape gets its own named queue and dict, deleted afterwards.
//
// The bench raises `queuePartitionItemsMax` (a public limit, lib/larder-limits.ts) so that
// a put scenario can run for its full duration on one partition.

import type { ConnectOptions, Store } from "../../proto/api.ts";
import { tempDir } from "./cleanup.ts";
import { BENCH_LIMITS } from "./larder-limits.ts";
import { startServerProcess } from "./server-process.ts";
import type { Primitives, Shape, System } from "./workload.ts";

export type Durability = "fsync" | "buffered";


/** True when `error` is a Larder error with this code (works for embedded and remote). */
export function hasCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

export async function openEmbedded(durability: Durability, prefix = `larder-${durability}`) {
  const { open } = await import("../../dist/index.js");
  const dir = tempDir(prefix);
  const store = await open({ path: dir.path, durability, limits: BENCH_LIMITS });
  return { store, path: dir.path, close: async () => { await store.close(); dir.remove(); } };
}

/**
 * A Larder server in a child process (so that it has its own event loop, as deployed) on a
 * temp folder, and a client of it. `connectTo` makes more clients, of it or of a proxy.
 */
export async function openRemote(durability: Durability, prefix = `larder-http-${durability}`, client: ConnectOptions = {}, serverFlags: readonly string[] = [], root?: string) {
  // `root`: another checkout (built), whose client and server run instead of this one's (bench:wire --baseline).
  const dist = root === undefined ? "../../dist" : `${root}/dist`;
  const { connect } = (await import(`${dist}/client/index.js`)) as typeof import("../../dist/client/index.js");
  const { SERVE_NODE_FLAGS } = (await import(`${dist}/bin/cli/node-flags.js`)) as typeof import("../../dist/bin/cli/node-flags.js");
  const dir = tempDir(prefix);
  let server;
  try {
    // The server runs as `larder serve` would: same node flags. The bare server keeps Node's defaults (they suit it best).
    server = await startServerProcess(["--child=larder", `--dir=${dir.path}`, `--durability=${durability}`, ...serverFlags], SERVE_NODE_FLAGS, root);
  } catch (error) {
    dir.remove();
    throw error;
  }
  const store = await connect(server.url, client);
  const url = server.url;
  return {
    store,
    url,
    pid: server.pid,
    connectTo: (to: string = url) => connect(to, client),
    close: async () => {
      await store.close();
      await server.stop();
      dir.remove();
    },
  };
}

export class LarderSystem implements System {
  readonly family = "larder" as const;
  readonly name: string;
  private shapes = 0;

  private constructor(
    private readonly store: Store,
    private readonly closeAll: () => Promise<void>,
    /** Remote systems: a fresh client per shape and per slice, so no slice inherits another's sockets. */
    private readonly newClient: (() => Promise<Store>) | undefined,
    readonly durability: Durability,
    readonly transport: "embedded" | "http" | "wire",
    unbatched: boolean,
    requestIds = true,
    metrics = true,
    suffix = "",
  ) {
    this.name =
      transport === "embedded"
        ? `larder-${durability}`
        : `larder-${transport}-${durability}${unbatched ? "-unbatched" : ""}${requestIds ? "" : "-noids"}${metrics ? "" : "-nometrics"}${suffix}`;
  }

  /**
   * Over HTTP with the client and server of another checkout, built (`root`, e.g. a worktree
   * of an older commit): that build's figures beside this one's, in the same run. Named
   * `larder-http-<durability>@base`.
   */
  static async openBaseline(durability: Durability, root: string): Promise<LarderSystem> {
    const opened = await openRemote(durability, `larder-base-${durability}`, {}, [], root);
    return new LarderSystem(opened.store, opened.close, () => opened.connectTo(), durability, "http", false, true, true, "@base");
  }

  /**
   * `unbatched`: a remote client with `requestsInFlightMax: Infinity`, one request per call
   * as the bare-http baseline sends, instead of the default client, which sends the calls
   * made while 4 requests are in flight together in batches.
   */
  /** `metrics: false`: a server without /metrics and with its log silent, to measure what they cost (bench/ops.ts). */
  static async open(durability: Durability, transport: "embedded" | "http" | "wire", unbatched = false, requestIds = true, metrics = true): Promise<LarderSystem> {
    if (transport === "embedded") {
      const opened = await openEmbedded(durability);
      return new LarderSystem(opened.store, opened.close, undefined, durability, transport, false);
    }
    // `requestIds: false`: the client sends no request ids (docs/protocol.md, "Request ids"), to measure what they cost.
    const client = { ...(unbatched ? { requestsInFlightMax: Infinity } : {}), ...(requestIds ? {} : { requestIds: false }) };
    const serverFlags = [...(metrics ? [] : ["--metrics=off"]), ...(transport === "wire" ? ["--wire"] : [])];
    const opened = await openRemote(durability, `larder-${transport}-${durability}`, client, serverFlags);
    return new LarderSystem(opened.store, opened.close, () => opened.connectTo(), durability, transport, unbatched, requestIds, metrics);
  }

  async primitives(_shape: Shape): Promise<Primitives> {
    const name = `bench-${this.shapes++}`;
    const newClient = this.newClient;
    if (newClient === undefined) return larderPrimitives(this.store, name);
    // Remote: a client of its own, replaced by a fresh one at each `release()`.
    let client = await newClient();
    let current = await larderPrimitives(client, name);
    return {
      queuePut: (values) => current.queuePut(values),
      queueGet: (n) => current.queueGet(n),
      dictPut: (entries) => current.dictPut(entries),
      dictGet: (keys) => current.dictGet(keys),
      release: async () => {
        await client.close();
        client = await newClient();
        current = await larderPrimitives(client, name);
      },
      dispose: async () => {
        try {
          await current.dispose();
        } finally {
          await client.close();
        }
      },
    };
  }

  close(): Promise<void> {
    return this.closeAll();
  }
}

/** The workload primitives on one named queue and dict of a Larder store. */
export async function larderPrimitives(store: Store, name: string): Promise<Primitives> {
  const q = await store.queues.fromName<Uint8Array>(name, { createIfMissing: true });
  const d = await store.dicts.fromName<string, Uint8Array>(name, { createIfMissing: true });
  return {
    async queuePut(values) {
      if (values.length === 1) await q.put(values[0]!);
      else await q.putMany(values);
    },
    async queueGet(n) {
      try {
        return n === 1 ? (await q.get({ timeoutMs: 0 }), 1) : (await q.getMany(n, { timeoutMs: 0 })).length;
      } catch (error) {
        if (hasCode(error, "QUEUE_EMPTY")) return 0;
        throw error;
      }
    },
    async dictPut(entries) {
      if (entries.length === 1) await d.put(entries[0]![0], entries[0]![1]);
      else await d.update(entries);
    },
    async dictGet(keys) {
      // Larder has no multi-key get: a batch is that many concurrent gets.
      const values = keys.length === 1 ? [await d.get(keys[0]!)] : await Promise.all(keys.map((k) => d.get(k)));
      return values.filter((v) => v !== undefined).length;
    },
    async dispose() {
      await store.queues.delete(name);
      await store.dicts.delete(name);
    },
  };
}
