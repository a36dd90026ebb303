// docs/ops.md is kept true by a scrape of a real server: every metric its table names is
// served, every metric Larder serves is in the table (prom-client's process metrics as
// their two prefixes), and every HELP and TYPE line of its sample scrape is served word for
// word, each sample line naming a series that is served. Its log events are those a
// real `larder serve` writes (test/cli/serve-log.test.ts reads them).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { connect } from "../../client/index.ts";
import { startServer } from "../../server/index.ts";
import { tempFolder } from "../support/remote-store.ts";

const DOC = readFileSync(new URL("../../docs/ops.md", import.meta.url), "utf8");
const PROCESS_PREFIXES = ["larder_process_", "larder_nodejs_"];

function section(title: string): string {
  const start = DOC.indexOf(`\n${title}\n`);
  expect(start, title).toBeGreaterThan(-1);
  const rest = DOC.slice(start + title.length + 2);
  const end = rest.search(/\n#{2,3} /);
  return end === -1 ? rest : rest.slice(0, end);
}

/** The metric names of the table's first column, `name` in backticks. */
function documentedMetrics(): string[] {
  const names: string[] = [];
  for (const line of section("## Metrics").split("\n")) {
    const m = /^\| `(larder_[a-z_*]+)`(?:, `(larder_[a-z_*]+)`)? \|/.exec(line);
    if (m) names.push(m[1]!, ...(m[2] === undefined ? [] : [m[2]]));
  }
  return names;
}

function sampleScrape(): string[] {
  const m = /### A sample scrape\n[\s\S]*?```\n([\s\S]*?)```/.exec(DOC);
  expect(m).not.toBeNull();
  return m![1]!.split("\n").filter((line) => line !== "");
}

async function realScrape(): Promise<string> {
  const folder = await tempFolder();
  const server = await startServer({ path: folder.path, port: 0, token: "ops-doc-token" });
  const store = await connect(server.url, { token: "ops-doc-token" });
  try {
    const q = await store.queues.fromName("jobs", { createIfMissing: true });
    await q.put(1);
    const d = await store.dicts.fromName("cache", { createIfMissing: true });
    await d.put("a", 1);
    await store.dicts.fromName("missing").catch(() => undefined);
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: "Bearer ops-doc-token" } });
    expect(res.status).toBe(200);
    return await res.text();
  } finally {
    await store.close();
    await server.close();
    await folder.remove();
  }
}

describe("docs/ops.md", () => {
  it("names every metric a real server serves, and serves every metric it names; its sample scrape is served", async () => {
    const text = await realScrape();
    const served = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!);
    const documented = documentedMetrics();
    expect(documented.length).toBeGreaterThan(10);
    for (const prefix of PROCESS_PREFIXES) {
      expect(documented).toContain(`${prefix}*`);
      expect(served.some((name) => name.startsWith(prefix))).toBe(true);
    }
    const own = served.filter((name) => !PROCESS_PREFIXES.some((p) => name.startsWith(p)));
    expect(documented.filter((name) => !name.endsWith("*")).sort()).toEqual([...own].sort());

    const servedLines = new Set(text.split("\n"));
    const sample = sampleScrape();
    for (const line of sample.filter((l) => l.startsWith("# "))) expect(servedLines, line).toContain(line);
    const seriesOf = (line: string) => line.replace(/="[^"]*"/g, "").replace(/ \S+$/, "");
    const servedSeries = new Set(text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map(seriesOf));
    for (const line of sample.filter((l) => !l.startsWith("# "))) expect(servedSeries, line).toContain(seriesOf(line));
    // The sample shows each of Larder's own metrics.
    for (const name of own) expect(sample.some((l) => l.startsWith(`# TYPE ${name} `)), name).toBe(true);
  });

  it("lists the flags of logs and metrics that `larder serve --help` has", async () => {
    const { SERVE_COMMAND, SERVE_ENV } = await import("../../bin/cli/serve.ts");
    for (const flag of ["log-level", "access-log", "no-metrics"]) {
      expect(SERVE_COMMAND.options[flag]).toBeDefined();
      expect(DOC).toContain(`--${flag}`);
      expect(DOC).toContain(SERVE_ENV[flag]!);
    }
  });
});
