// The web console (docs/console.md) in real Chromium against a real `larder serve` child
// process: log in (a wrong token is refused), list objects and search them, open a dict
// and a queue, see another client's writes appear without reloading, put and delete an
// entry and clear a partition after confirming. Every page is screenshotted at 1280x800
// and at phone size into test/ui/results/ (not committed). The test fails on any console
// error of the page and on any request that leaves the server.
//
// Needs Debian's `chromium` (.ci/run installs it); skipped, saying so, where it is missing.

import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { get } from "node:http";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, ConsoleMessage, Page } from "playwright-core";
import { connect } from "../../client/index.ts";
import type { Dict, Queue, Store } from "../../proto/api.ts";
import type { DictKey } from "../../proto/keys.ts";
import { ROUTES } from "../../proto/calls.ts";

const CHROMIUM = process.env.LARDER_CHROMIUM ?? "/usr/bin/chromium";
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RESULTS = `${ROOT}test/ui/results`;
const TOKEN = "console-test-token";
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** How long the page may take to show a change made elsewhere (it refreshes every 2-3 s). */
const LIVE_MS = 10_000;

const haveChromium = existsSync(CHROMIUM);
/** Whether the server lists a queue's partitions (`queue/partitions`); the page works either way. */
const LISTS_PARTITIONS = "queuePartitions" in ROUTES;
/** Reservations (`queue/reserve`) may come after the listing: the reserved column is checked once they exist. */
const RESERVES = "queueReserve" in ROUTES;
if (!haveChromium) console.warn(`test/ui/console.test.ts: skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set LARDER_CHROMIUM)`);

interface Served {
  child: ChildProcess;
  url: string;
}

function serve(args: readonly string[]): Promise<Served> {
  const child = spawn(process.execPath, ["--import", "tsx", `${ROOT}bin/larder.ts`, "serve", "--memory", "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve({ child, url: match[1]! });
    });
    child.once("exit", (code) => reject(new Error(`larder serve exited ${code}: ${err}`)));
  });
}

async function stop(served: Served | undefined): Promise<void> {
  if (served === undefined || served.child.exitCode !== null) return;
  const exited = new Promise((resolve) => served.child.once("exit", resolve));
  served.child.kill("SIGTERM");
  await exited;
}

describe.skipIf(!haveChromium)("the web console in Chromium", () => {
  let served: Served | undefined;
  let store: Store;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let pages: Dict<DictKey, unknown>;
  let jobs: Queue<unknown>;
  const consoleErrors: string[] = [];
  const foreignRequests: string[] = [];

  async function shoot(name: string): Promise<void> {
    // Every control has a name a screen reader can say: a label, text, or aria-label.
    const unnamed = await page.evaluate(`[...document.querySelectorAll("input, select, textarea, button, a[href]")]
      .filter((el) => el.getClientRects().length > 0)
      .filter((el) => !(el.getAttribute("aria-label") || (el.labels && el.labels.length > 0) || el.textContent.trim()))
      .map((el) => el.outerHTML.slice(0, 80))`);
    expect(unnamed, `${name}: controls without a name`).toEqual([]);
    await page.screenshot({ path: `${RESULTS}/${name}-desktop.png`, fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: `${RESULTS}/${name}-phone.png`, fullPage: true });
    // Nothing may stick out sideways on a phone: the page is no wider than the window.
    // (The test's types are Node's, without the DOM's: the function runs in the page.)
    const overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth");
    expect(overflow as number, `${name} is wider than a phone`).toBeLessThanOrEqual(0);
    await page.setViewportSize(DESKTOP);
  }

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true });
    // The page is what the sources say now, not an older dist/ui.
    await promisify(execFile)(process.execPath, [`${ROOT}ui/build.mjs`]);
    served = await serve(["--token", TOKEN]);
    store = await connect(served.url, { token: TOKEN });
    pages = await store.dicts.fromName("pages", { createIfMissing: true });
    await pages.put("home", { title: "Home", visits: 12345678901234567890n, tags: new Set(["a", "b"]), seen: new Date("2026-01-02T03:04:05Z") });
    await pages.put(["user", 7], new Map<unknown, unknown>([["k", 1], [2, "two"]]));
    await pages.put(42, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    await pages.put(43, Buffer.from("buf"));
    await pages.put("long", "x".repeat(5000));
    await pages.put("k".repeat(300), "a key far longer than any column");
    jobs = await store.queues.fromName("jobs", { createIfMissing: true });
    await jobs.putMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await jobs.put("urgent", { partition: "hot" });
    const sessions = await store.dicts.fromName("sessions", { createIfMissing: true });
    await sessions.update(Array.from({ length: 30 }, (_, i) => [`s${String(i).padStart(2, "0")}`, i] as [string, number]));
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    context = await browser.newContext({ viewport: DESKTOP });
    page = await context.newPage();
    page.on("console", (message: ConsoleMessage) => {
      if (message.type() === "error") consoleErrors.push(`${message.text()} (${message.location().url})`);
    });
    page.on("pageerror", (error) => consoleErrors.push(`uncaught: ${error.message}`));
    const origin = new URL(served.url).origin;
    page.on("request", (request) => {
      const url = request.url();
      if (!url.startsWith(`${origin}/`) && !url.startsWith("data:")) foreignRequests.push(url);
      if (url.includes(TOKEN)) foreignRequests.push(`token in a URL: ${url}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await store?.close();
    await stop(served);
  });

  it("refuses a wrong token, then logs in with the right one", async () => {
    await page.goto(`${served!.url}/ui/`);
    await page.getByLabel("Token").fill("not-the-token");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("UNAUTHENTICATED");
    await shoot("login-refused");
    // Chromium reports the refused call (401) as a console error: that one, and only it, is expected here.
    expect(consoleErrors).toHaveLength(1);
    expect(consoleErrors[0]).toMatch(/401/);
    consoleErrors.length = 0;

    await page.getByLabel("Token").fill(TOKEN);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Dicts and queues" }).waitFor();
    expect(await page.evaluate('sessionStorage.getItem("larder.token")')).toBe(TOKEN);
    expect(page.url()).not.toContain(TOKEN);
  });

  it("can be used from the keyboard: skip link, fields, then the objects in order", async () => {
    // Afresh, so that Tab starts at the top; the token is still in the tab's sessionStorage.
    await page.reload();
    await page.locator("table.objects tbody tr").first().waitFor();
    const focused = (): Promise<unknown> => page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()");
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("skip");
    await page.keyboard.press("Enter");
    expect(await focused()).toBe("main");
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("env");
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("search");
    await page.keyboard.press("Tab");
    expect(await focused()).toBe("sessions");
  });

  it("lists the objects newest first, with their counts, and searches by name", async () => {
    const rows = page.locator("table.objects tbody tr");
    await expect.poll(() => rows.count()).toBe(3);
    const names = await page.locator("table.objects tbody td.name").allTextContents();
    expect(names).toEqual(["sessions", "jobs", "pages"]);
    const jobsRow = rows.filter({ hasText: "jobs" });
    expect(await jobsRow.locator("td").nth(4).textContent()).toBe("4");
    expect(await jobsRow.locator("td").nth(5).textContent()).toBe("2");
    expect(await rows.filter({ hasText: "pages" }).locator("td").nth(4).textContent()).toBe("6");
    await shoot("objects");

    await page.getByLabel("Search by name").fill("ses");
    await expect.poll(() => page.locator("table.objects tbody td.name").allTextContents()).toEqual(["sessions"]);
    await page.getByLabel("Search by name").fill("");
    await expect.poll(() => rows.count()).toBe(3);
  });

  it("opens a dict by keyboard and shows its entries in key order, with the types JSON lacks marked", async () => {
    const link = page.getByRole("link", { name: "pages" });
    await link.focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Dict pages" }).waitFor();
    const keyCells = page.locator("table.entries tbody td.key");
    await expect.poll(() => keyCells.count()).toBe(6);
    // Key order is the store's: numbers before strings before arrays.
    const keys = await keyCells.allTextContents();
    expect(keys).toEqual(["42", "43", '"home"', `"${"k".repeat(300)}"`, '"long"', '["user", 7]']);
    const values = await page.locator("table.entries tbody td.value").allTextContents();
    expect(values[0]).toBe('bytes("deadbeef")');
    expect(values[1]).toBe('Buffer("627566")');
    expect(values[2]).toBe('{"title": "Home", "visits": 12345678901234567890n, "tags": Set ["a", "b"], "seen": Date("2026-01-02T03:04:05.000Z")}');
    expect(values[5]).toBe('Map {"k" => 1, 2 => "two"}');
    // A long value is cut to the column, and shown whole on request.
    const longCell = page.locator("table.entries tbody tr").nth(4).locator("td.value code");
    const box = await longCell.boundingBox();
    expect(box!.width).toBeLessThan(DESKTOP.width);
    await shoot("dict");
    await page.getByRole("button", { name: 'Show all of "long"' }).click();
    await expect.poll(() => page.locator("dialog pre").nth(1).textContent()).toBe(`"${"x".repeat(5000)}"`);
    await shoot("dict-entry");
    await page.keyboard.press("Escape");
    await expect.poll(() => page.locator("dialog").count()).toBe(0);
  });

  it("shows a put by another client without reloading, and puts, gets and deletes one entry", async () => {
    await pages.put("added-elsewhere", [1, 2.5, -0, null, true]);
    await expect.poll(() => page.locator("table.entries tbody td.key").allTextContents(), { timeout: LIVE_MS }).toContain('"added-elsewhere"');
    expect(await page.locator("table.entries tbody tr", { hasText: "added-elsewhere" }).locator("td.value").textContent()).toBe("[1, 2.5, -0, null, true]");

    await page.getByLabel("Key", { exact: true }).fill("from-console");
    const typed = { n: 5n, when: new Date("2026-03-04T05:06:07Z"), raw: new Uint8Array([0, 255]), buf: Buffer.from([1]), m: new Map([[1n, [-0]]]), s: new Set(["x"]) };
    await page.getByLabel("Value (for Put)").fill('{"n": 5n, "when": Date("2026-03-04T05:06:07Z"), "raw": bytes("00ff"), buf: Buffer("01"), "m": Map {1n => [-0]}, "s": Set ["x"]}');
    await page.getByRole("button", { name: "Put", exact: true }).click();
    await expect.poll(() => pages.get("from-console")).toEqual(typed);
    // The same classes, not only equal contents: a Uint8Array stays one, a Buffer stays one, -0 stays -0.
    const stored = (await pages.get("from-console")) as typeof typed;
    expect([Object.getPrototypeOf(stored.raw) === Uint8Array.prototype, Buffer.isBuffer(stored.buf), Object.is(stored.m.get(1n)![0], -0)]).toEqual([true, true, true]);

    // Put over an existing key asks first; cancelling leaves it.
    await page.getByLabel("Value (for Put)").fill('"replaced"');
    await page.getByRole("button", { name: "Put", exact: true }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    expect(await pages.get("from-console")).toEqual(typed);

    await page.getByLabel("Key", { exact: true }).fill("[\"user\", 7]");
    await page.getByLabel("Read the key as").selectOption("literal");
    await page.getByRole("button", { name: "Get", exact: true }).click();
    await expect.poll(() => page.locator(".result pre").textContent()).toContain('"k" => 1');

    // Delete asks for a confirmation: cancel keeps the entry, confirm deletes it.
    await page.getByRole("button", { name: 'Delete "added-elsewhere"' }).click();
    await shoot("dict-confirm-delete");
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    expect(await pages.contains("added-elsewhere")).toBe(true);
    await page.getByRole("button", { name: 'Delete "added-elsewhere"' }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await expect.poll(() => pages.contains("added-elsewhere")).toBe(false);
    await expect.poll(() => page.locator("table.entries tbody td.key").allTextContents()).not.toContain('"added-elsewhere"');
  });

  it("pages through a dict's entries in key order", async () => {
    await page.getByRole("link", { name: "Dicts and queues" }).click();
    await page.getByRole("link", { name: "sessions" }).click();
    await page.getByRole("heading", { name: "Dict sessions" }).waitFor();
    const keys = page.locator("table.entries tbody td.key");
    await expect.poll(() => page.locator(".pager .position").textContent()).toBe("Entries 1–25 of 30");
    expect((await keys.allTextContents()).slice(0, 2)).toEqual(['"s00"', '"s01"']);
    await page.getByRole("button", { name: "Next →" }).click();
    await expect.poll(() => page.locator(".pager .position").textContent()).toBe("Entries 26–30 of 30");
    expect(await keys.allTextContents()).toEqual(['"s25"', '"s26"', '"s27"', '"s28"', '"s29"']);
    expect(await page.getByRole("button", { name: "Next →" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "← Previous" }).click();
    await expect.poll(() => keys.first().textContent()).toBe('"s00"');
  });

  it("shows a queue's partitions, a live chart and the head of a partition, and clears a partition after confirming", async () => {
    await page.getByRole("link", { name: "Dicts and queues" }).click();
    await page.getByRole("link", { name: "jobs" }).click();
    await page.getByRole("heading", { name: "Queue jobs" }).waitFor();
    const defaultLength = page.locator('table.partitions tr[data-partition=""] td.length');
    await expect.poll(() => defaultLength.textContent()).toBe("3");

    // Another client's puts show up by themselves, in the table and the chart.
    await jobs.putMany([{ n: 4 }, { n: 5 }]);
    await expect.poll(() => defaultLength.textContent(), { timeout: LIVE_MS }).toBe("5");
    await expect.poll(() => page.locator(".chart .legend").first().textContent(), { timeout: LIVE_MS }).toContain("length 6");
    await expect.poll(() => page.locator(".chart .legend").nth(1).textContent(), { timeout: LIVE_MS }).toMatch(/put (?:[1-9]|0\.\d*[1-9])/);
    await expect.poll(() => page.locator("polyline.s-length").getAttribute("points")).toMatch(/ /);

    const hot = page.locator('table.partitions tr[data-partition="hot"]');
    if (LISTS_PARTITIONS) {
      // The server lists partitions: "hot" is there by itself, with its expiry; a reserved
      // count shows once an item is reserved.
      await expect.poll(() => hot.locator("td.length").textContent()).toBe("1");
      expect(await hot.locator("td.expires").textContent()).toMatch(/^in \d+ h$/);
      expect(await page.locator("td.reserved").count()).toBe(0);
      if (RESERVES) {
        const reserving = jobs as unknown as { reserve(n: number, options: { partition: string }): Promise<unknown[]> };
        expect(await reserving.reserve(1, { partition: "hot" })).toHaveLength(1);
        await expect.poll(() => hot.locator("td.reserved").textContent(), { timeout: LIVE_MS }).toBe("1");
      }
    } else {
      // A server without queue/partitions: partitions are looked at by name.
      await page.getByLabel("Look at a partition").fill("hot");
      await page.getByRole("button", { name: "Add" }).click();
      await expect.poll(() => hot.locator("td.length").textContent()).toBe("1");
    }

    await page.getByRole("button", { name: "Peek at (default)" }).click();
    await expect.poll(() => page.locator("ol.items li code").allTextContents()).toEqual(['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}']);
    expect(await jobs.len()).toBe(5);
    await shoot("queue");

    await page.getByRole("button", { name: "Clear (default)" }).click();
    await shoot("queue-confirm-clear");
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    expect(await jobs.len()).toBe(5);
    await page.getByRole("button", { name: "Clear (default)" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Clear partition" }).click();
    await expect.poll(() => jobs.len()).toBe(0);
    // An empty partition reads 0, or leaves the list when the server lists partitions.
    const defaultRow = page.locator('table.partitions tr[data-partition=""]');
    await expect.poll(async () => (await defaultRow.count()) === 0 || (await defaultLength.textContent()) === "0").toBe(true);
    expect(await jobs.len({ partition: "hot" })).toBe(1);
  }, 60_000);

  it("made no request outside the server and logged no console error", () => {
    expect(foreignRequests).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});

/** The status of a GET of `path` sent as is (fetch would resolve the dots away). */
function rawStatus(url: string, path: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    get({ host: hostname, port, path }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    }).on("error", reject);
  });
}

describe("larder serve --no-ui", () => {
  it("serves no console, and the console's files need no token when it is on", async () => {
    const off = await serve(["--no-ui", "--token", TOKEN]);
    try {
      const res = await fetch(`${off.url}/ui/`);
      expect(res.status).toBe(401);
    } finally {
      await stop(off);
    }
    const on = await serve(["--token", TOKEN]);
    try {
      const res = await fetch(`${on.url}/ui/`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(await res.text()).toContain("app.js");
      const redirect = await fetch(`${on.url}/ui`, { redirect: "manual" });
      expect(redirect.status).toBe(308);
      // Only the built files, by exact name: nothing else under /ui, and no way out of it.
      for (const path of ["/ui/app.js.map", "/ui/../package.json", "/ui/%2e%2e/package.json", "/ui/..%2fpackage.json"]) expect(await rawStatus(on.url, path), path).toBe(404);
    } finally {
      await stop(on);
    }
  });
});
