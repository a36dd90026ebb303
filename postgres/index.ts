// The PostgreSQL backend's public door: `open({ postgres })` (through engine/index.ts) and
// the server's engine. Loaded only when a postgres connection string is given, so that the
// embedded store never loads `pg`.

export { PostgresEngine, type PostgresEngineSettings } from "./engine.ts";
