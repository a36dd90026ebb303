// The conformance suite against the embedded engine in memory (`open({ memory: true })`):
// the same semantics as on disk, nothing persisted.

import type { Store } from "../../proto/api.ts";
import { open } from "../../index.ts";
import { conformance } from "../conformance/index.ts";

const stores = new Set<Store>();

conformance({
  name: "embedded in memory",
  supports: { persistence: false },
  async make(options = {}) {
    const store = await open({ memory: true, ...options });
    stores.add(store);
    return store;
  },
  async cleanup() {
    const closing = [...stores];
    stores.clear();
    await Promise.allSettled(closing.map((store) => store.close()));
  },
});
