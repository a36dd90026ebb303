// The conformance harness over the network, HTTP or the framed transport: each store is a
// real server on port 0 over a fresh folder, and a real client connected to it. `reopen`
// closes client and server and serves the same folder again. The server's long-poll cap
// is short, so that the suite's waits also run through the client's long-poll loops.

import type { ConnectOptions, Store } from "../../proto/api.ts";
import type { FactoryOptions, Harness } from "../conformance/index.ts";
import { remoteStore, tempFolder, type RemoteStore } from "./remote-store.ts";

const LONG_POLL_MAX_MS = 1_000;

export function httpHarness(name: string, client: ConnectOptions = {}, transport: "http" | "wire" = "http"): Harness {
  const folderOf = new Map<Store, string>();
  const removals: Array<() => Promise<void>> = [];

  async function serve(path: string, options: FactoryOptions): Promise<RemoteStore> {
    const store = await remoteStore({
      path,
      ...options,
      client,
      transport,
      server: { longPollMaxMs: LONG_POLL_MAX_MS, ...(options.environment === undefined ? {} : { environment: options.environment }) },
    });
    folderOf.set(store, path);
    return store;
  }

  return {
    name,
    supports: { persistence: true },
    async make(options = {}) {
      const folder = await tempFolder("larder-http-conformance-");
      removals.push(folder.remove);
      return serve(folder.path, options);
    },
    async reopen(store, options = {}) {
      const path = folderOf.get(store);
      if (path === undefined) throw new Error("reopen: this store was not made by the HTTP harness");
      folderOf.delete(store);
      await store.close();
      return serve(path, options);
    },
    async cleanup() {
      const stores = [...folderOf.keys()];
      folderOf.clear();
      await Promise.allSettled(stores.map((store) => store.close()));
      await Promise.all(removals.splice(0).map((remove) => remove()));
    },
  };
}
