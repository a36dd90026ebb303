// The console's entry: the login form, the hash router and the views' life cycle.
// Routes: `#/` (objects, `#/?env=E` for another environment), `#/dict/ID`, `#/queue/ID`.
// The token is kept in sessionStorage (gone when the tab closes) and sent only in the
// Authorization header of each call; it never appears in a URL.

import { Api, ApiError } from "./api.ts";
import { fill, h, notify } from "./dom.ts";
import { dictView } from "./dict.ts";
import { objectsView } from "./objects.ts";
import { queueView } from "./queue.ts";

const TOKEN_KEY = "larder.token";

/** What a view gives back: how to stop its timers when another view replaces it. */
export interface View {
  stop(): void;
}

export interface Context {
  readonly api: Api;
  readonly main: HTMLElement;
  /** Handles an error of a call: back to the login form on 401, else a message. */
  failed(err: unknown): void;
}

let current: View | undefined;

function main(): HTMLElement {
  return document.getElementById("main")!;
}

function stopView(): void {
  current?.stop();
  current = undefined;
}

function showLogin(message: string | undefined): void {
  stopView();
  document.getElementById("logout")!.hidden = true;
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", "aria-describedby": "login-hint login-error" });
  const error = h("p", { id: "login-error", class: "error", role: "alert" }, message ?? "");
  const form = h(
    "form",
    { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Log in to Larder"),
    h(
      "p",
      { id: "login-hint" },
      "Enter the server's token (",
      h("code", {}, "larder serve --token"),
      " or ",
      h("code", {}, "LARDER_TOKEN"),
      "); leave it empty for a server without one. It is kept in this tab only, until the tab closes.",
    ),
    h("label", { for: "token" }, "Token"),
    input,
    error,
    h("button", { type: "submit" }, "Log in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void login(input.value, error);
  });
  fill(main(), form);
  input.focus();
}

async function login(token: string, error: HTMLElement): Promise<void> {
  const api = new Api(token === "" ? undefined : token);
  error.textContent = "";
  try {
    await api.listObjects("dict", undefined, 0);
  } catch (err) {
    error.textContent = err instanceof ApiError && err.code === "UNAUTHENTICATED" ? "That token was refused (UNAUTHENTICATED). Check it and try again." : `Could not reach the server: ${(err as Error).message}`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  start(api);
}

function logout(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  notify("");
  showLogin(undefined);
}

function start(api: Api): void {
  document.getElementById("logout")!.hidden = false;
  const context: Context = {
    api,
    main: main(),
    failed(err) {
      if (err instanceof ApiError && err.code === "UNAUTHENTICATED") {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin("The server refused the token; log in again.");
        return;
      }
      notify(err instanceof ApiError ? `${err.code}: ${err.message}` : `Error: ${(err as Error).message}`, "error");
    },
  };
  const route = (): void => {
    stopView();
    notify("");
    const [path = "", query = ""] = location.hash.replace(/^#/, "").split("?");
    const parts = path.split("/").filter((p) => p !== "");
    if (parts[0] === "dict" && parts[1] !== undefined) current = dictView(context, decodeURIComponent(parts[1]));
    else if (parts[0] === "queue" && parts[1] !== undefined) current = queueView(context, decodeURIComponent(parts[1]));
    else current = objectsView(context, new URLSearchParams(query).get("env") ?? undefined);
  };
  window.onhashchange = route;
  route();
}

async function boot(): Promise<void> {
  document.getElementById("logout")!.addEventListener("click", logout);
  document.getElementById("skip")!.addEventListener("click", (event) => {
    event.preventDefault();
    main().focus();
  });
  const saved = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  // Without a saved token, the form comes first (a call without one would be answered 401
  // by a server that has one); an empty token there is for a server without one.
  if (saved === undefined) {
    showLogin(undefined);
    return;
  }
  const api = new Api(saved === "" ? undefined : saved);
  try {
    await api.listObjects("dict", undefined, 0);
  } catch (err) {
    if (err instanceof ApiError && err.code === "UNAUTHENTICATED") {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin("The saved token was refused; log in again.");
      return;
    }
    notify(`Could not reach the server: ${(err as Error).message}`, "error");
    return;
  }
  start(api);
}

void boot();
