// A small helper to build DOM elements, and the page's shared parts: the status line and
// the dialogs (confirmation, full text). The console uses no framework: each view builds
// its elements with h() and updates the few that change.

type Child = Node | string | null | undefined | false;
type Props = Record<string, string | number | boolean | EventListener | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent: Element | DocumentFragment, children: readonly Child[]): void {
  for (const child of children) if (child !== null && child !== undefined && child !== false) parent.append(child);
}

/** Replaces an element's children. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A short message in the status line, read out by screen readers; errors stay until the next message. */
export function notify(message: string, kind: "info" | "error" = "info"): void {
  const status = document.getElementById("status")!;
  status.textContent = message;
  status.className = `status ${kind}`;
  status.hidden = message === "";
}

/** Asks before a destructive action; resolves true only when the action's button was pressed. */
export function confirmAction(title: string, text: string, action: string): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "secondary", autofocus: true }, "Cancel");
    const confirm = h("button", { type: "button", class: "danger" }, action);
    const dialog = h(
      "dialog",
      { class: "modal", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" },
      h("h2", { id: "confirm-title" }, title),
      h("p", { id: "confirm-text", class: "long" }, text),
      h("div", { class: "buttons" }, cancel, confirm),
    );
    cancel.addEventListener("click", () => dialog.close("cancel"));
    confirm.addEventListener("click", () => dialog.close("confirm"));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Shows content in full (a long key or value) in a dialog. */
export function showFull(title: string, ...content: Child[]): void {
  const close = h("button", { type: "button", class: "secondary" }, "Close");
  const dialog = h("dialog", { class: "modal wide", "aria-labelledby": "full-title" }, h("h2", { id: "full-title" }, title), ...content, h("div", { class: "buttons" }, close));
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

/** A time as `YYYY-MM-DD HH:MM:SS` in the browser's time zone. */
export function timeText(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A duration in ms as the largest unit that fits: `90 s`, `5 min`, `24 h`. */
export function durationText(ms: number): string {
  if (!Number.isFinite(ms)) return "never";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} days`;
}

/** Runs `run` now, or once the tab is visible again: a page in a background tab asks the server nothing. */
export function whenVisible(run: () => void): void {
  if (!document.hidden) {
    run();
    return;
  }
  const again = (): void => {
    if (document.hidden) return;
    document.removeEventListener("visibilitychange", again);
    run();
  };
  document.addEventListener("visibilitychange", again);
}
