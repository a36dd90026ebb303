// The objects page: the dicts and queues of one environment, newest first, with their
// entries or items and partitions, filtered by name as you type. Refreshes itself.

import type { WireObject } from "./api.ts";
import { fill, h, timeText, whenVisible } from "./dom.ts";
import type { Context, View } from "./main.ts";

const ENV_KEY = "larder.environments";
/** Objects listed per kind; the protocol pages by creation time, the page shows the newest. */
const OBJECTS_MAX = 500;
const REFRESH_MS = 5000;

interface Row {
  object: WireObject;
  count: number | undefined;
  partitions: number | undefined;
}

function knownEnvironments(): string[] {
  try {
    return JSON.parse(sessionStorage.getItem(ENV_KEY) ?? "[]") as string[];
  } catch {
    return [];
  }
}

function rememberEnvironment(env: string): void {
  const known = new Set(knownEnvironments());
  known.add(env);
  sessionStorage.setItem(ENV_KEY, JSON.stringify([...known].sort()));
}

export function objectsView(ctx: Context, environment: string | undefined): View {
  let rows: Row[] = [];
  let timer: number | undefined;
  let stopped = false;

  const envInput = h("input", { id: "env", name: "env", type: "text", value: environment ?? "", placeholder: "server default", list: "env-list", autocomplete: "off", spellcheck: "false" });
  const envList = h("datalist", { id: "env-list" }, ...knownEnvironments().map((e) => h("option", { value: e })));
  const search = h("input", { id: "search", name: "search", type: "search", placeholder: "part of a name", autocomplete: "off", spellcheck: "false" });
  const summary = h("p", { class: "summary", "aria-live": "polite" }, "Loading…");
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "objects" },
    h("caption", { class: "sr-only" }, "Dicts and queues, newest first"),
    h("thead", {}, h("tr", {}, ...["Kind", "Name", "ID", "Created", "Entries / items", "Partitions"].map((t) => h("th", { scope: "col" }, t)))),
    tbody,
  );
  const envForm = h(
    "form",
    { class: "toolbar", role: "search", "aria-label": "Environment and name" },
    h("div", { class: "field" }, h("label", { for: "env" }, "Environment"), envInput, envList),
    h("div", { class: "field" }, h("label", { for: "search" }, "Search by name"), search),
  );
  envForm.addEventListener("submit", (event) => event.preventDefault());
  envInput.addEventListener("change", () => {
    const env = envInput.value.trim();
    location.hash = env === "" ? "#/" : `#/?env=${encodeURIComponent(env)}`;
  });
  search.addEventListener("input", () => draw());

  fill(ctx.main, h("h1", {}, "Dicts and queues"), envForm, summary, h("div", { class: "table-wrap" }, table));

  function draw(): void {
    const needle = search.value.trim().toLowerCase();
    const shown = needle === "" ? rows : rows.filter((r) => (r.object.name ?? "").toLowerCase().includes(needle));
    const dicts = rows.filter((r) => r.object.kind === "dict").length;
    const envName = environment ?? rows[0]?.object.environment ?? "the server's default environment";
    summary.textContent =
      `${dicts} ${dicts === 1 ? "dict" : "dicts"} and ${rows.length - dicts} ${rows.length - dicts === 1 ? "queue" : "queues"} in ${JSON.stringify(envName)}` +
      (needle === "" ? "" : `; ${shown.length} ${shown.length === 1 ? "matches" : "match"} "${search.value.trim()}"`) +
      (rows.length >= 2 * OBJECTS_MAX ? ` (the newest ${OBJECTS_MAX} of each kind)` : "");
    fill(tbody, ...shown.map(rowOf));
    if (shown.length === 0) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, rows.length === 0 ? "No dicts or queues here yet." : "No name matches.")));
  }

  async function load(): Promise<void> {
    const [dicts, queues] = await Promise.all([ctx.api.listObjects("dict", environment, OBJECTS_MAX), ctx.api.listObjects("queue", environment, OBJECTS_MAX)]);
    const objects = [...dicts, ...queues].sort((a, b) => b.createdAt - a.createdAt);
    const counts = await ctx.api.batch(objects.map((o) => (o.kind === "dict" ? ["dictLen", { id: o.id }] : ["queueStats", { id: o.id }])));
    rows = objects.map((object, i) => {
      const answer = counts[i];
      if (answer === undefined || answer instanceof Error) return { object, count: undefined, partitions: undefined };
      return object.kind === "dict" ? { object, count: answer.len as number, partitions: undefined } : { object, count: answer.items as number, partitions: answer.partitions as number };
    });
    if (environment !== undefined) rememberEnvironment(environment);
    else if (objects[0] !== undefined) rememberEnvironment(objects[0].environment);
  }

  async function tick(): Promise<void> {
    try {
      await load();
      if (stopped) return;
      draw();
    } catch (err) {
      if (!stopped) ctx.failed(err);
    }
    if (!stopped) timer = window.setTimeout(() => whenVisible(() => {
      if (!stopped) void tick();
    }), REFRESH_MS);
  }
  void tick();
  return {
    stop() {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}

function rowOf({ object, count, partitions }: Row): HTMLTableRowElement {
  const name = object.name ?? "(anonymous)";
  return h(
    "tr",
    {},
    h("td", { "data-label": "Kind" }, h("span", { class: `kind kind-${object.kind}` }, object.kind)),
    h("td", { "data-label": "Name", class: "name" }, h("a", { href: `#/${object.kind}/${encodeURIComponent(object.id)}`, class: "cut", title: name }, name)),
    h("td", { "data-label": "ID" }, h("code", { class: "cut id", title: object.id }, object.id)),
    h("td", { "data-label": "Created" }, h("time", { datetime: new Date(object.createdAt).toISOString() }, timeText(object.createdAt))),
    h("td", { "data-label": object.kind === "dict" ? "Entries" : "Items", class: "num" }, count === undefined ? "?" : count.toLocaleString("en-US")),
    h("td", { "data-label": "Partitions", class: "num" }, object.kind === "queue" ? (partitions === undefined ? "?" : partitions.toLocaleString("en-US")) : "—"),
  );
}
