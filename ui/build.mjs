// Builds the web console (docs/console.md) into dist/ui: one bundle of ui/main.ts with
// everything it imports (the project's own proto/ codecs and msgpackr among them), the
// page and its style sheet. Run by `npm run build`, so `npm install` (through `prepare`)
// leaves a server ready to serve it. The page loads nothing from anywhere else.
//
// proto/ is written for Node.js: it uses Buffer, and proto/keys.ts imports node:buffer.
// In the browser both come from the `buffer` package (ui/shims/), which is Node's Buffer
// API on Uint8Array.

import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist/ui`;
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [`${root}ui/main.ts`],
  outfile: `${out}/app.js`,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome120", "firefox120", "safari17"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  inject: [`${root}ui/shims/buffer-global.ts`],
  plugins: [
    {
      name: "node-buffer",
      setup(b) {
        b.onResolve({ filter: /^node:buffer$/ }, () => ({ path: `${root}ui/shims/node-buffer.ts` }));
      },
    },
  ],
  logLevel: "warning",
});
copyFileSync(`${root}ui/index.html`, `${out}/index.html`);
copyFileSync(`${root}ui/app.css`, `${out}/app.css`);
