// The web console's files, served at /ui (docs/console.md). They are built into dist/ui by
// `npm run build` (ui/build.mjs) and read once when the server starts; only the files of
// that build are served, by exact path, so no request can reach any other file. They need
// no token: they hold no data, and the page asks for the token itself (a login form) and
// sends it on each call of the HTTP protocol, as every client does.

import { existsSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";

/** The console's path; `/ui` itself redirects to `/ui/`. */
export const CONSOLE_PATH = "/ui";

const FILES: ReadonlyArray<readonly [name: string, type: string]> = [
  ["index.html", "text/html; charset=utf-8"],
  ["app.js", "text/javascript; charset=utf-8"],
  ["app.css", "text/css; charset=utf-8"],
];

/**
 * Nothing the page loads or calls may come from anywhere but this server: scripts, styles,
 * images and requests are limited to its own origin, and it cannot be framed.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** dist/ui next to the compiled server (dist/server), or the repository's dist/ui when run from source. */
function assetFolder(): URL | undefined {
  for (const relative of ["../ui/", "../dist/ui/"]) {
    const folder = new URL(relative, import.meta.url);
    if (FILES.every(([name]) => existsSync(new URL(name, folder)))) return folder;
  }
  return undefined;
}

export class ConsoleFiles {
  private readonly assets = new Map<string, Asset>();

  constructor() {
    const folder = assetFolder();
    if (folder === undefined) return;
    for (const [name, type] of FILES) this.assets.set(name, { body: readFileSync(new URL(name, folder)), type });
  }

  /** Whether a request path is the console's. */
  static owns(path: string): boolean {
    return path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`);
  }

  serve(path: string, req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(req, res, 405, { allow: "GET, HEAD" }, json("INVALID", `${path} takes GET, not ${req.method}`));
      return;
    }
    if (path === CONSOLE_PATH) {
      // Relative, so that it stays right behind a proxy that serves the server under a base path.
      send(req, res, 308, { location: "ui/" }, undefined);
      return;
    }
    if (this.assets.size === 0) {
      send(req, res, 404, {}, json("NOT_FOUND", "the console is not built: run `npm run build` (it writes dist/ui)"));
      return;
    }
    const name = path === `${CONSOLE_PATH}/` ? "index.html" : path.slice(CONSOLE_PATH.length + 1);
    const asset = this.assets.get(name);
    if (asset === undefined) {
      send(req, res, 404, {}, json("NOT_FOUND", `no console file ${JSON.stringify(path)}`));
      return;
    }
    send(req, res, 200, { "content-type": asset.type, "cache-control": "no-cache" }, asset.body);
  }
}

function json(code: string, message: string): Asset {
  return { body: Buffer.from(JSON.stringify({ code, message })), type: "application/json" };
}

function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, asset: Asset | Buffer | undefined): void {
  const body = asset === undefined ? undefined : Buffer.isBuffer(asset) ? asset : asset.body;
  res.writeHead(status, {
    ...(asset !== undefined && !Buffer.isBuffer(asset) ? { "content-type": asset.type } : {}),
    ...headers,
    "content-length": String(body?.length ?? 0),
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}
