// A queue's page: its totals, a live chart of its length and put/get rates, its partitions
// with their lengths, the head of a partition (read without removing anything), and
// clearing a partition or the whole queue after a confirmation. Refreshes itself every
// SAMPLE_MS; the chart keeps the samples of the last minutes while the page is open.
//
// Partitions: the protocol has no call that lists a queue's partitions yet, so the page
// lists the default partition and the ones named in "Look at a partition" (remembered in
// this tab), and shows how many partitions the queue has in all (`queue/stats`).

import { ApiError, type PeekedItem, type WireObject } from "./api.ts";
import { QueueCharts } from "./chart.ts";
import { fact } from "./dict.ts";
import { confirmAction, fill, h, notify, showFull, timeText } from "./dom.ts";
import { render } from "./format.ts";
import type { Context, View } from "./main.ts";

const SAMPLE_MS = 2000;
const PEEK_ITEMS = 10;

/** The default partition's row key (a partition key is never empty). */
const DEFAULT = "";

function partitionName(p: string): string {
  return p === DEFAULT ? "(default)" : p;
}

export function queueView(ctx: Context, id: string): View {
  let stopped = false;
  let timer: number | undefined;
  let object: WireObject | undefined;
  const storeKey = `larder.partitions.${id}`;
  const partitions: string[] = [DEFAULT, ...((JSON.parse(sessionStorage.getItem(storeKey) ?? "[]") as string[]) ?? [])];
  const lengths = new Map<string, number>();
  let peeked: string | undefined;

  const title = h("h1", {}, "Queue");
  const facts = h("dl", { class: "facts" });
  const charts = new QueueCharts();
  const tbody = h("tbody");
  const peekSection = h("section", { class: "peek", "aria-labelledby": "peek-title", hidden: true });
  const partInput = h("input", { id: "partition", name: "partition", type: "text", autocomplete: "off", spellcheck: "false", required: true });
  const lookForm = h(
    "form",
    { class: "toolbar" },
    h("div", { class: "field" }, h("label", { for: "partition" }, "Look at a partition"), h("div", { class: "inline" }, partInput, h("button", { type: "submit" }, "Add"))),
  );
  lookForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const p = partInput.value;
    if (p === "" || partitions.includes(p)) return;
    partitions.push(p);
    sessionStorage.setItem(storeKey, JSON.stringify(partitions.filter((x) => x !== DEFAULT)));
    partInput.value = "";
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
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "partitions" },
          h("caption", { class: "sr-only" }, "Partitions and their lengths"),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Partition"), h("th", { scope: "col" }, "Length"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
          tbody,
        ),
      ),
      lookForm,
      h("div", { class: "buttons" }, clearAll),
    ),
    peekSection,
  );

  function drawPartitions(): void {
    fill(
      tbody,
      ...partitions.map((p) => {
        const peek = h("button", { type: "button", class: "secondary small", "aria-label": `Peek at ${partitionName(p)}` }, "Peek");
        const clear = h("button", { type: "button", class: "danger small", "aria-label": `Clear ${partitionName(p)}` }, "Clear…");
        peek.addEventListener("click", () => void peekAt(p));
        clear.addEventListener("click", () => void clearPartition(p));
        const len = lengths.get(p);
        return h(
          "tr",
          { "data-partition": p },
          h("td", { "data-label": "Partition", class: "name" }, h("code", { class: "cut", title: partitionName(p) }, partitionName(p))),
          h("td", { "data-label": "Length", class: "num length" }, len === undefined ? "?" : len.toLocaleString("en-US")),
          h("td", { class: "actions" }, peek, clear),
        );
      }),
    );
  }

  async function peekAt(p: string): Promise<void> {
    try {
      const items = await ctx.api.queuePeek(id, p === DEFAULT ? undefined : p, PEEK_ITEMS);
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
    const len = lengths.get(p);
    const which = p === DEFAULT ? "the default partition" : `the partition ${JSON.stringify(p)}`;
    const what = len === undefined ? "Every item" : len === 1 ? "The 1 item" : `All ${len.toLocaleString("en-US")} items`;
    const ok = await confirmAction(`Clear ${partitionName(p)}?`, `${what} of ${which} will be deleted. This cannot be undone.`, "Clear partition");
    if (!ok) return;
    try {
      await ctx.api.queueClearPartition(id, p === DEFAULT ? undefined : p);
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

  async function refresh(): Promise<void> {
    window.clearTimeout(timer);
    try {
      if (object === undefined) object = await ctx.api.object("queue", id);
      const calls = [
        ["queueStats", { id }],
        ["queueCounters", { id }],
        ...partitions.map((p) => ["queueLen", { id, partition: p === DEFAULT ? undefined : p }]),
      ] as const;
      const answers = await ctx.api.batch(calls as never);
      if (stopped) return;
      const failed = answers.find((a) => a instanceof ApiError);
      if (failed !== undefined) throw failed;
      const [stats, counts, ...lens] = answers as Array<Record<string, number>>;
      partitions.forEach((p, i) => lengths.set(p, lens[i]!.len!));
      title.textContent = `Queue ${object.name ?? "(anonymous)"}`;
      fill(
        facts,
        ...fact("ID", h("code", {}, object.id)),
        ...fact("Environment", object.environment),
        ...fact("Created", timeText(object.createdAt)),
        ...fact("Items", stats!.items!.toLocaleString("en-US")),
        ...fact("Partitions", stats!.partitions!.toLocaleString("en-US")),
      );
      charts.add(counts!.atMs!, stats!.items!, counts!.putItems!, counts!.gotItems!);
      drawPartitions();
    } catch (err) {
      if (stopped) return;
      if (err instanceof ApiError && err.code === "NOT_FOUND") {
        fill(ctx.main, h("h1", {}, "Queue not found"), h("p", {}, "No queue has the id ", h("code", {}, id), " (it may have been deleted). ", h("a", { href: "#/" }, "Back to the list")));
        stopped = true;
        return;
      }
      ctx.failed(err);
    }
    if (!stopped) timer = window.setTimeout(() => void refresh(), SAMPLE_MS);
  }
  void refresh();
  return {
    stop() {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}
