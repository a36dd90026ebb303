// Number formatting for tables and charts: throughput with k/M suffixes, latency in the
// unit that keeps three significant digits readable, ratios as "0.42x".

export function formatRate(perSec: number): string {
  if (!Number.isFinite(perSec)) return "-";
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)}M`;
  if (perSec >= 1e4) return `${(perSec / 1e3).toFixed(1)}k`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(2)}k`;
  return perSec.toFixed(perSec >= 100 ? 0 : 1);
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 1) return `${(ms * 1000).toFixed(ms < 0.01 ? 1 : 0)}us`;
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${ms.toFixed(1)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

/** "0.42x"; `digits` 3 where a threshold is checked, so 0.699 does not print as 0.70. */
export function formatRatio(ratio: number | undefined, digits = 2): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return "";
  return ratio >= 10 ? `${ratio.toFixed(0)}x` : `${ratio.toFixed(digits)}x`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(bytes >= 100 << 20 ? 0 : 1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(bytes % 1024 === 0 ? 0 : 1)} KiB`;
  return `${bytes} B`;
}

/** "100B" and "10KiB": value sizes in scenario labels. */
export function sizeLabel(bytes: number): string {
  return formatBytes(bytes).replace(" ", "");
}
