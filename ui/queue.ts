// A queue's page: its totals, a live chart of its length and put/get rates, its partitions
// with their lengths, reserved counts and expiry, the head of a partition (read without
// removing anything), and clearing a partition or the whole queue after a confirmation.
// Refreshes itself every SAMPLE_MS (one batch request); the chart keeps the samples of the
// last minutes while the page is open.
//
// Partitions come from `queue/partitions`, a page at a time in key order. A server without
// that route answers it "no route": the page then lists the default partition and the ones
// named in "Look at a partition" (remembered in this tab), with their lengths only.

import { ApiError, PARTITIONS_PATH, isNoRoute, partitionsOf, type PartitionRecord, type PeekedItem, type WireObject } from "./api.ts";
import { QueueCharts } from "./chart.ts";
import { fact } from "./dict.ts";
import { confirmAction, durationText, fill, h, notify, showFull, timeText, whenVisible } from "./dom.ts";
import { render } from "./format.ts";
import type { Context, View } from "./main.ts";

const SAMPLE_MS = 2000;
const PEEK_ITEMS = 10;
const PARTITIONS_PAGE = 50;

/** The default partition's row key (a partition key is never empty). */
const DEFAULT = "";

function partitionName(p: string): string {
  return p === DEFAULT ? "(default)" : p;
}

function wirePartition(p: string): string | undefined {
  return p === DEFAULT ? undefined : p;
}

interface Row {
  key: string;
  len: number | undefined;
  reserved: number | undefined;
  expiresAt: number | undefined;
}

export function queueView(ctx: Context, id: string): View {
  let stopped = false;
  let timer: number | undefined;
  let object: WireObject | undefined;
  /** undefined until the first answer tells whether the server lists partitions. */
  let listing: boolean | undefined;
  const storeKey = `larder.partitions.${id}`;
  const named: string[] = [DEFAULT, ...((JSON.parse(sessionStorage.getItem(storeKey) ?? "[]") as string[]) ?? [])];
  /** `after` of each page of partitions up to the one shown. */
  const partCursors: Array<string | undefined> = [undefined];
  let partMore = false;
  let rows: Row[] = [];
  let serverNow = Date.now();
  let peeked: string | undefined;

  const title = h("h1", {}, "Queue");
  const facts = h("dl", { class: "facts" });
  const charts = new QueueCharts();
  const thead = h("thead");
  const tbody = h("tbody");
  const peekSection = h("section", { class: "peek", "aria-labelledby": "peek-title", hidden: true });
  const partInput = h("input", { id: "partition", name: "partition", type: "text", autocomplete: "off", spellcheck: "false", required: true });
  const lookForm = h(
    "form",
    { class: "toolbar", hidden: true },
    h("div", { class: "field" }, h("label", { for: "partition" }, "Look at a partition"), h("div", { class: "inline" }, partInput, h("button", { type: "submit" }, "Add"))),
  );
  lookForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const p = partInput.value;
    if (p === "" || named.includes(p)) return;
    named.push(p);
    sessionStorage.setItem(storeKey, JSON.stringify(named.filter((x) => x !== DEFAULT)));
    partInput.value = "";
    void refresh();
  });
  const prev = h("button", { type: "button", class: "secondary" }, "← Previous partitions");
  const next = h("button", { type: "button", class: "secondary" }, "Next partitions →");
  const pager = h("div", { class: "pager", hidden: true }, prev, next);
  prev.addEventListener("click", () => {
    if (partCursors.length > 1) partCursors.pop();
    void refresh();
  });
  next.addEventListener("click", () => {
    const last = rows[rows.length - 1];
    if (partMore && last !== undefined) partCursors.push(last.key);
    void refresh();
  });
  const clearAll = h("button", { type: "button", class: "danger" }, "Clear every partition…");
  clearAll.addEventListener("click", () => void clearQueue());

  fill(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Dicts and queues"), " / ", h("span", { "aria-current": "page" }, "queue")),
    title,
    facts,
    h("section", { "aria-labelledby": "activity-title" }, h("h2", { id: "activity-title" }, "Activity"), charts.element),
    h(
      "section",
      { "aria-labelledby": "partitions-title" },
      h("h2", { id: "partitions-title" }, "Partitions"),
      h("div", { class: "table-wrap" }, h("table", { class: "partitions" }, h("caption", { class: "sr-only" }, "Partitions in key order"), thead, tbody)),
      pager,
      lookForm,
      h("div", { class: "buttons" }, clearAll),
    ),
    peekSection,
  );

  function drawPartitions(): void {
    // Reserved counts appear once there are reservations, expiry once the server tells it.
    const showReserved = rows.some((r) => (r.reserved ?? 0) > 0);
    const showExpiry = listing === true;
    const headers = ["Partition", "Length", ...(showReserved ? ["Reserved"] : []), ...(showExpiry ? ["Expires"] : [])];
    fill(
      thead,
      h("tr", {}, ...headers.map((t) => h("th", { scope: "col", class: t === "Partition" || t === "Expires" ? "" : "num" }, t)), h("th", { scope: "col", class: "actions-col" }, h("span", { class: "sr-only" }, "Actions"))),
    );
    fill(tbody, ...rows.map((row) => partitionRow(row, showReserved, showExpiry)));
    if (rows.length === 0) tbody.append(h("tr", {}, h("td", { colspan: headers.length + 1, class: "empty" }, "No partitions: the queue is empty.")));
    pager.hidden = !(partMore || partCursors.length > 1);
    prev.disabled = partCursors.length <= 1;
    next.disabled = !partMore;
  }

  function partitionRow(row: Row, showReserved: boolean, showExpiry: boolean): HTMLTableRowElement {
    const p = row.key;
    const peek = h("button", { type: "button", class: "secondary small", "aria-label": `Peek at ${partitionName(p)}` }, "Peek");
    const clear = h("button", { type: "button", class: "danger small", "aria-label": `Clear ${partitionName(p)}` }, "Clear…");
    peek.addEventListener("click", () => void peekAt(p));
    clear.addEventListener("click", () => void clearPartition(p));
    const count = (n: number | undefined): string => (n === undefined ? "?" : n.toLocaleString("en-US"));
    return h(
      "tr",
      { "data-partition": p },
      h("td", { "data-label": "Partition", class: "name" }, h("code", { class: "cut", title: partitionName(p) }, partitionName(p))),
      h("td", { "data-label": "Length", class: "num length" }, count(row.len)),
      showReserved ? h("td", { "data-label": "Reserved", class: "num reserved" }, count(row.reserved)) : null,
      showExpiry ? h("td", { "data-label": "Expires", class: "expires" }, expiryCell(row.expiresAt)) : null,
      h("td", { class: "actions" }, peek, clear),
    );
  }

  function expiryCell(expiresAt: number | undefined): Node | string {
    if (expiresAt === undefined) return "never";
    const left = expiresAt - serverNow;
    return h("time", { datetime: new Date(expiresAt).toISOString(), title: timeText(expiresAt) }, left <= 0 ? "now" : `in ${durationText(left)}`);
  }

  async function peekAt(p: string): Promise<void> {
    try {
      const items = await ctx.api.queuePeek(id, wirePartition(p), PEEK_ITEMS);
      peeked = p;
      drawPeek(p, items);
    } catch (err) {
      ctx.failed(err);
    }
  }

  function drawPeek(p: string, items: PeekedItem[]): void {
    peekSection.hidden = false;
    fill(
      peekSection,
      h("h2", { id: "peek-title", tabindex: "-1" }, `Head of ${partitionName(p)}`),
      h("p", { class: "hint" }, items.length === 0 ? "The partition is empty." : `The first ${items.length} items, oldest first; nothing was removed.`),
      h(
        "ol",
        { class: "items" },
        ...items.map((item, i) => {
          const show = h("button", { type: "button", class: "secondary small", "aria-label": `Show all of item ${i + 1}` }, "Show");
          show.addEventListener("click", () => showFull(`Item ${i + 1} of ${partitionName(p)}`, h("pre", { class: "value-full" }, render(item.value, true))));
          return h("li", {}, item.undecodable === undefined ? h("code", { class: "cut" }, render(item.value, false)) : h("span", { class: "error" }, "undecodable"), show);
        }),
      ),
    );
    (peekSection.querySelector("h2") as HTMLElement).focus();
  }

  async function clearPartition(p: string): Promise<void> {
    const len = rows.find((r) => r.key === p)?.len;
    const which = p === DEFAULT ? "the default partition" : `the partition ${JSON.stringify(p)}`;
    const what = len === undefined ? "Every item" : len === 1 ? "The 1 item" : `All ${len.toLocaleString("en-US")} items`;
    const ok = await confirmAction(`Clear ${partitionName(p)}?`, `${what} of ${which} will be deleted. This cannot be undone.`, "Clear partition");
    if (!ok) return;
    try {
      await ctx.api.queueClearPartition(id, wirePartition(p));
      notify(`Cleared ${partitionName(p)}`);
      await refresh();
      if (peeked === p) await peekAt(p);
    } catch (err) {
      ctx.failed(err);
    }
  }

  async function clearQueue(): Promise<void> {
    const ok = await confirmAction("Clear the whole queue?", `Every item of every partition of ${object?.name ?? id} will be deleted. This cannot be undone.`, "Clear every partition");
    if (!ok) return;
    try {
      await ctx.api.queueClearAll(id);
      notify("Cleared every partition");
      await refresh();
      if (peeked !== undefined) await peekAt(peeked);
    } catch (err) {
      ctx.failed(err);
    }
  }

  /** One batch: totals, counters, and the partitions (listed, or the named ones' lengths). */
  async function sample(): Promise<void> {
    const after = partCursors[partCursors.length - 1];
    const list = listing !== false ? [[PARTITIONS_PATH, { id, after, limit: PARTITIONS_PAGE }] as const] : [];
    const lens = listing !== true ? named.map((p) => ["queueLen", { id, partition: wirePartition(p) }] as const) : [];
    const answers = await ctx.api.batch([["queueStats", { id }], ["queueCounters", { id }], ...list, ...lens]);
    const [stats, counts] = answers;
    for (const answer of [stats, counts]) if (answer instanceof ApiError) throw answer;
    let rest = answers.slice(2);
    if (listing !== false) {
      const page = rest[0];
      rest = rest.slice(1);
      if (isNoRoute(page)) listing = false;
      else if (page instanceof ApiError) throw page;
      else {
        listing = true;
        const { partitions, more } = partitionsOf(page!);
        rows = partitions.map((r: PartitionRecord) => ({ key: r.partition ?? DEFAULT, len: r.len, reserved: r.reserved, expiresAt: r.expiresAt }));
        partMore = more;
      }
    }
    if (listing === false) {
      if (rest.length === 0) return sample(); // the first answer said "no route": ask for the lengths
      rows = named.map((key, i) => {
        const answer = rest[i];
        return { key, len: answer instanceof ApiError || answer === undefined ? undefined : (answer.len as number), reserved: undefined, expiresAt: undefined };
      });
    }
    const s = stats as Record<string, number>;
    const c = counts as Record<string, number>;
    serverNow = c.atMs!;
    title.textContent = `Queue ${object!.name ?? "(anonymous)"}`;
    fill(
      facts,
      ...fact("ID", h("code", {}, object!.id)),
      ...fact("Environment", object!.environment),
      ...fact("Created", timeText(object!.createdAt)),
      ...fact("Items", s.items!.toLocaleString("en-US")),
      ...fact("Partitions", s.partitions!.toLocaleString("en-US")),
    );
    charts.add(c.atMs!, s.items!, (counts as Record<string, unknown>).history as Array<[number, number, number]>);
    lookForm.hidden = listing !== false;
    drawPartitions();
  }

  async function refresh(): Promise<void> {
    window.clearTimeout(timer);
    try {
      if (object === undefined) object = await ctx.api.object("queue", id);
      if (stopped) return;
      await sample();
    } catch (err) {
      if (stopped) return;
      if (err instanceof ApiError && err.code === "NOT_FOUND") {
        fill(ctx.main, h("h1", {}, "Queue not found"), h("p", {}, "No queue has the id ", h("code", {}, id), " (it may have been deleted). ", h("a", { href: "#/" }, "Back to the list")));
        stopped = true;
        return;
      }
      ctx.failed(err);
    }
    if (!stopped) timer = window.setTimeout(() => whenVisible(() => {
      if (!stopped) void refresh();
    }), SAMPLE_MS);
  }
  void refresh();
  return {
    stop() {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}
