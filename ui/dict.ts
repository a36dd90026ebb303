// A dict's page: its entries a page at a time in key order (the store's order), each key
// and value shown in the notation of ui/format.ts and cut to one line with a button to see
// it whole; and a form to get, put or delete one entry (put over an existing key and delete
// ask first). The page refreshes itself, so writes by other clients show up.

import { ApiError, encodeKeyBytes, type Entry, type WireObject } from "./api.ts";
import { confirmAction, durationText, fill, h, notify, showFull, timeText, whenVisible } from "./dom.ts";
import { render, text } from "./format.ts";
import type { Context, View } from "./main.ts";
import { ParseError, parseValue } from "./parse.ts";
import type { DictKey } from "../proto/keys.ts";

const PAGE_SIZE = 25;
const REFRESH_MS = 3000;

export function dictView(ctx: Context, id: string): View {
  let stopped = false;
  let timer: number | undefined;
  let object: WireObject | undefined;
  /** `after` of each page up to the one shown: [undefined] is the first page. */
  const cursors: Array<Uint8Array | undefined> = [undefined];
  let more = false;
  let entries: Entry[] = [];

  const title = h("h1", {}, "Dict");
  const facts = h("dl", { class: "facts" });
  const tbody = h("tbody");
  const position = h("span", { class: "position", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "secondary" }, "← Previous");
  const next = h("button", { type: "button", class: "secondary" }, "Next →");
  prev.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    void refresh();
  });
  next.addEventListener("click", () => {
    const last = entries[entries.length - 1];
    if (more && last !== undefined) cursors.push(last.keyBytes);
    void refresh();
  });

  const keyInput = h("input", { id: "entry-key", name: "key", type: "text", autocomplete: "off", spellcheck: "false", required: true });
  const keyMode = h(
    "select",
    { id: "entry-key-mode", name: "keyMode", "aria-label": "Read the key as" },
    h("option", { value: "string" }, "as text"),
    h("option", { value: "literal" }, "as a literal"),
  );
  const valueInput = h("textarea", { id: "entry-value", name: "value", rows: 4, spellcheck: "false", placeholder: '{"title": "Home", "visits": 12n, "tags": Set ["a"]}' });
  const result = h("div", { class: "result", "aria-live": "polite" });
  const getButton = h("button", { type: "button" }, "Get");
  const putButton = h("button", { type: "button" }, "Put");
  const deleteButton = h("button", { type: "button", class: "danger" }, "Delete");
  getButton.addEventListener("click", () => void getEntry());
  putButton.addEventListener("click", () => void putEntry());
  deleteButton.addEventListener("click", () => void deleteByKey());
  const form = h(
    "form",
    { class: "entry-form", "aria-labelledby": "entry-title" },
    h("h2", { id: "entry-title" }, "One entry"),
    h("div", { class: "field" }, h("label", { for: "entry-key" }, "Key"), h("div", { class: "inline" }, keyInput, keyMode)),
    h(
      "div",
      { class: "field" },
      h("label", { for: "entry-value" }, "Value (for Put)"),
      valueInput,
      h(
        "p",
        { class: "hint", id: "notation-hint" },
        "Values, and keys read as literals, are JSON plus 12n, Map {k => v}, Set [..], Date(\"2026-01-01T00:00:00Z\"), bytes(\"00ff\") (a Uint8Array), Buffer(\"00ff\"), NaN, Infinity and -0. Keys are strings, numbers, bigints, booleans, bytes or arrays of them.",
      ),
    ),
    h("div", { class: "buttons" }, getButton, putButton, deleteButton),
    result,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void getEntry();
  });

  const table = h(
    "table",
    { class: "entries" },
    h("caption", { class: "sr-only" }, "Entries in key order"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
    tbody,
  );
  fill(
    ctx.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Dicts and queues"), " / ", h("span", { "aria-current": "page" }, "dict")),
    title,
    facts,
    h("section", { "aria-labelledby": "entries-title" }, h("h2", { id: "entries-title" }, "Entries"), h("div", { class: "table-wrap" }, table), h("div", { class: "pager" }, prev, position, next)),
    form,
  );

  function readKey(): DictKey {
    const raw = keyInput.value;
    if (keyMode.value === "string") return raw;
    return parseValue(raw) as DictKey;
  }

  async function guarded(action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (err) {
      if (err instanceof ParseError || (err instanceof Error && err.name === "InvalidError")) {
        fill(result, h("p", { class: "error", role: "alert" }, err.message));
        return;
      }
      ctx.failed(err);
    }
  }

  function getEntry(): Promise<void> {
    return guarded(async () => {
      const key = readKey();
      const answer = await ctx.api.dictGet(id, key);
      if ("missing" in answer) {
        fill(result, h("p", {}, "No entry with key ", h("code", {}, text(key)), "."));
        return;
      }
      fill(result, h("p", {}, "Value of ", h("code", { class: "cut" }, text(key)), ":"), h("pre", { class: "value-full" }, render(answer.value, true)));
      valueInput.value = text(answer.value, true);
    });
  }

  function putEntry(): Promise<void> {
    return guarded(async () => {
      const key = readKey();
      const value = parseValue(valueInput.value);
      if (await ctx.api.dictContains(id, key)) {
        const ok = await confirmAction("Replace this entry?", `The key ${text(key)} already has a value; Put replaces it.`, "Replace");
        if (!ok) return;
      }
      await ctx.api.dictPut(id, key, value);
      fill(result, h("p", {}, "Put ", h("code", { class: "cut" }, text(key)), "."));
      notify(`Put ${text(key)}`);
      await refresh();
    });
  }

  function deleteByKey(): Promise<void> {
    return guarded(async () => {
      const key = readKey();
      await deleteEntry(key, encodeKeyBytes(key));
    });
  }

  async function deleteEntry(key: DictKey, keyBytes: Uint8Array): Promise<void> {
    const ok = await confirmAction("Delete this entry?", `The entry with key ${text(key)} will be deleted. This cannot be undone.`, "Delete");
    if (!ok) return;
    try {
      const existed = await ctx.api.dictDelete(id, keyBytes);
      notify(existed ? `Deleted ${text(key)}` : `No entry with key ${text(key)}`);
      await refresh();
    } catch (err) {
      ctx.failed(err);
    }
  }

  function drawFacts(len: number): void {
    if (object === undefined) return;
    title.textContent = `Dict ${object.name ?? "(anonymous)"}`;
    fill(
      facts,
      ...fact("ID", h("code", {}, object.id)),
      ...fact("Environment", object.environment),
      ...fact("Created", timeText(object.createdAt)),
      ...fact("Entries", len.toLocaleString("en-US")),
      ...fact("Entry TTL", object.entryTtlMs === undefined ? "none" : durationText(object.entryTtlMs)),
    );
  }

  function drawEntries(len: number): void {
    fill(tbody, ...entries.map((entry) => entryRow(entry)));
    if (entries.length === 0) tbody.append(h("tr", {}, h("td", { colspan: 3, class: "empty" }, cursors.length > 1 ? "No more entries." : "This dict is empty.")));
    const first = (cursors.length - 1) * PAGE_SIZE;
    position.textContent = entries.length === 0 ? `${len.toLocaleString("en-US")} entries` : `Entries ${first + 1}–${first + entries.length} of ${len.toLocaleString("en-US")}`;
    prev.disabled = cursors.length <= 1;
    next.disabled = !more;
  }

  function entryRow(entry: Entry): HTMLTableRowElement {
    const show = h("button", { type: "button", class: "secondary small", "aria-label": `Show all of ${cutText(text(entry.key))}` }, "Show");
    const del = h("button", { type: "button", class: "danger small", "aria-label": `Delete ${cutText(text(entry.key))}` }, "Delete");
    show.addEventListener("click", () =>
      showFull(
        "Entry",
        h("h3", {}, "Key"),
        h("pre", { class: "value-full" }, render(entry.key, true)),
        h("h3", {}, "Value"),
        entry.undecodable === undefined ? h("pre", { class: "value-full" }, render(entry.value, true)) : h("p", { class: "error" }, `Cannot decode the stored bytes: ${entry.undecodable}`),
      ),
    );
    del.addEventListener("click", () => void deleteEntry(entry.key, entry.keyBytes));
    return h(
      "tr",
      {},
      h("td", { "data-label": "Key", class: "key" }, h("code", { class: "cut" }, render(entry.key, false))),
      h("td", { "data-label": "Value", class: "value" }, entry.undecodable === undefined ? h("code", { class: "cut" }, render(entry.value, false)) : h("span", { class: "error" }, "undecodable")),
      h("td", { class: "actions" }, show, del),
    );
  }

  async function refresh(): Promise<void> {
    window.clearTimeout(timer);
    try {
      const [record, len, page] = await Promise.all([object === undefined ? ctx.api.object("dict", id) : Promise.resolve(object), ctx.api.dictLen(id), ctx.api.dictScan(id, cursors[cursors.length - 1], PAGE_SIZE)]);
      if (stopped) return;
      object = record;
      entries = page.entries;
      more = page.more;
      drawFacts(len);
      drawEntries(len);
    } catch (err) {
      if (stopped) return;
      if (err instanceof ApiError && err.code === "NOT_FOUND") {
        fill(ctx.main, h("h1", {}, "Dict not found"), h("p", {}, "No dict has the id ", h("code", {}, id), " (it may have been deleted). ", h("a", { href: "#/" }, "Back to the list")));
        stopped = true;
        return;
      }
      ctx.failed(err);
    }
    if (!stopped) timer = window.setTimeout(() => whenVisible(() => {
      if (!stopped) void refresh();
    }), REFRESH_MS);
  }
  void refresh();
  return {
    stop() {
      stopped = true;
      window.clearTimeout(timer);
    },
  };
}

export function fact(name: string, value: Node | string): [HTMLElement, HTMLElement] {
  return [h("dt", {}, name), h("dd", {}, value)];
}

function cutText(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
