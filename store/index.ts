// The typed Store's public door: `createStore(backend, environment)` gives the Store of
// spec/api.md over any Backend (the embedded engine, the HTTP client, a future one). It
// depends on proto/ alone, so the engine and the HTTP client can each be loaded without
// the other.

export { createStore } from "./store.ts";
