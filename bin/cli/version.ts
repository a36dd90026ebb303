// `larder --version`: the version of the package this file ships in. The file runs from
// bin/cli/ in the repository and from dist/bin/cli/ once built, so look upwards for the
// package.json that declares the `larder` bin (whatever the package's name).

import { readFile } from "node:fs/promises";

export async function version(): Promise<string> {
  for (const relative of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(await readFile(new URL(relative, import.meta.url), "utf8")) as { bin?: Record<string, string>; version?: string };
      if (pkg.bin?.["larder"] !== undefined && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not this one
    }
  }
  return "unknown";
}
