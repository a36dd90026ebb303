// Health check for the deploy examples: exit 0 when GET /v1/health on this machine's
// Larder server answers 200, else 1. LARDER_PORT as for `larder serve` (default 7070);
// a wait of at most LARDER_HEALTH_TIMEOUT_MS (default 3000).
const port = process.env.LARDER_PORT || "7070";
const timeoutMs = Number(process.env.LARDER_HEALTH_TIMEOUT_MS || 3000);
try {
  const res = await fetch(`http://127.0.0.1:${port}/v1/health`, { signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.json();
  if (!res.ok || body.status !== "ok") throw new Error(`health answered ${res.status}`);
  process.exit(0);
} catch (err) {
  console.error(`larder health: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
