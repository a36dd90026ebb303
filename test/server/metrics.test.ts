// GET /metrics on a real server (docs/ops.md): behind the token like every data route, in
// Prometheus' text format, with requests by route and outcome, commit batches and their
// fsyncs, and objects, items, entries and waiters by environment read at scrape time.

import { afterEach, describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { startServer } from "../../server/index.ts";
import { tempFolder } from "../support/remote-store.ts";

const TOKEN = "metrics-token-1";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scrape(url: string, token: string | null = TOKEN): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${url}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

/** The value of one sample, `name{labels}` written as the text format writes it; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (wanted.every(([k, v]) => have[k] === v) && Object.keys(have).length === wanted.length) return Number(m[3]);
  }
  return undefined;
}

describe("GET /metrics", () => {
  it("needs the token, and is the Prometheus text format", async () => {
    const server = await startServer({ memory: true, port: 0, token: TOKEN });
    try {
      expect((await scrape(server.url, null)).status).toBe(401);
      expect((await scrape(server.url, "wrong-token-00")).status).toBe(401);
      const ok = await scrape(server.url);
      expect(ok.status).toBe(200);
      expect(ok.type).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(ok.text).toMatch(/^# HELP larder_request_duration_seconds /m);
      expect(ok.text).toMatch(/^# TYPE larder_request_duration_seconds histogram$/m);
      const post = await fetch(`${server.url}/metrics`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
      expect(post.status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it("counts requests by route and outcome, batches with their fsyncs, and what each environment holds", async () => {
    const folder = await tempFolder();
    cleanups.push(folder.remove);
    const server = await startServer({ path: folder.path, port: 0, token: TOKEN, limits: { queuePartitionItemsMax: 2 } });
    const store = await connect(server.url, { token: TOKEN });
    const staging = await connect(server.url, { token: TOKEN, environment: "staging" });
    try {
      const q = await store.queues.fromName("q", { createIfMissing: true });
      await q.put("a");
      await q.put("b");
      const d = await store.dicts.fromName("d", { createIfMissing: true });
      await d.put("k1", 1);
      await d.put("k2", 2);
      await d.put("k3", 3);
      await expect(store.dicts.fromName("missing")).rejects.toMatchObject({ code: "NOT_FOUND" });
      const sq = await staging.queues.fromName("sq", { createIfMissing: true });
      // One getter waits on an empty queue of staging, one putter on the full partition of main.
      const waitingGet = sq.get({ timeoutMs: 60_000 });
      const waitingPut = q.put("c", { timeoutMs: 60_000 });
      // Should an assertion below fail, their rejection at close is not left unhandled.
      waitingGet.catch(() => {});
      waitingPut.catch(() => {});
      let text = "";
      for (let i = 0; i < 100; i++) {
        text = (await scrape(server.url)).text;
        if (sample(text, "larder_waiting_getters", { environment: "staging" }) === 1 && sample(text, "larder_waiting_putters", { environment: "main" }) === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(sample(text, "larder_waiting_getters", { environment: "staging" })).toBe(1);
      expect(sample(text, "larder_waiting_putters", { environment: "main" })).toBe(1);
      expect(sample(text, "larder_waiting_getters", { environment: "main" })).toBe(0);
      expect(sample(text, "larder_queue_items", { environment: "main" })).toBe(2);
      expect(sample(text, "larder_queue_items", { environment: "staging" })).toBe(0);
      expect(sample(text, "larder_dict_entries", { environment: "main" })).toBe(3);
      expect(sample(text, "larder_dicts", { environment: "main" })).toBe(1);
      expect(sample(text, "larder_queues", { environment: "main" })).toBe(1);
      expect(sample(text, "larder_queues", { environment: "staging" })).toBe(1);
      expect(sample(text, "larder_request_duration_seconds_count", { route: "/v1/dict/put", outcome: "ok" })).toBe(3);
      expect(sample(text, "larder_request_duration_seconds_count", { route: "/v1/objects/get", outcome: "NOT_FOUND" })).toBe(1);
      expect(sample(text, "larder_request_duration_seconds_bucket", { route: "/v1/dict/put", outcome: "ok", le: "+Inf" })).toBe(3);
      expect(sample(text, "larder_request_duration_seconds_sum", { route: "/v1/dict/put", outcome: "ok" })).toBeGreaterThan(0);
      // Every write above was its own batch, fsync'd (fsync durability on disk).
      const batches = sample(text, "larder_commit_batch_writes_count")!;
      expect(batches).toBeGreaterThanOrEqual(5);
      expect(sample(text, "larder_commit_fsync_seconds_count")).toBe(batches);
      expect(sample(text, "larder_commit_batch_bytes_sum")).toBeGreaterThan(0);
      expect(sample(text, "larder_storage_reopens_total")).toBe(0);
      // An item for the getter, room for the putter: both waits end, and the gauges say so.
      await sq.put("x");
      expect(await waitingGet).toBe("x");
      expect(await q.get()).toBe("a");
      await waitingPut;
      await d.clear();
      const after = (await scrape(server.url)).text;
      expect(sample(after, "larder_dict_entries", { environment: "main" })).toBe(0);
      expect(sample(after, "larder_waiting_putters", { environment: "main" })).toBe(0);
      expect(sample(after, "larder_waiting_getters", { environment: "staging" })).toBe(0);
      expect(sample(after, "larder_queue_items", { environment: "main" })).toBe(2);
    } finally {
      await staging.close();
      await store.close();
      await server.close();
    }
  });

  it("in buffered durability counts batches but no fsyncs; with metrics: false there is no /metrics", async () => {
    const folder = await tempFolder();
    cleanups.push(folder.remove);
    const buffered = await startServer({ path: folder.path, port: 0, durability: "buffered" });
    try {
      const store = await connect(buffered.url);
      await (await store.dicts.fromName("d", { createIfMissing: true })).put("k", 1);
      await store.close();
      const { text } = await scrape(buffered.url, null);
      expect(sample(text, "larder_commit_batch_writes_count")).toBeGreaterThan(0);
      expect(sample(text, "larder_commit_fsync_seconds_count")).toBe(0);
    } finally {
      await buffered.close();
    }
    const off = await startServer({ memory: true, port: 0, metrics: false });
    try {
      const res = await scrape(off.url, null);
      expect(res.status).toBe(404);
      expect(JSON.parse(res.text)).toMatchObject({ code: "NOT_FOUND" });
    } finally {
      await off.close();
    }
  });
});
