// What the engine tells an observer (the server's metrics, server/metrics.ts): each commit
// batch as it is written, and on request the counts it keeps in memory anyway. Nothing
// here runs per call.

/** Watches the commit pipeline (server/metrics.ts). */
export interface EngineObserver {
  /** A batch of `writes` LevelDB puts and deletes, `bytes` key and value bytes, took `seconds` to write (with its fsync when `synced`). */
  batchWritten(writes: number, bytes: number, seconds: number, synced: boolean): void;
}

/** What an engine holds in one environment, counted from its memory at once (no I/O). */
export interface EnvironmentStats {
  readonly environment: string;
  readonly dicts: number;
  readonly queues: number;
  readonly dictEntries: number;
  readonly queueItems: number;
  readonly waitingGetters: number;
  readonly waitingPutters: number;
}
