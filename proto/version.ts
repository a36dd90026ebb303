// The version of the package this file ships in, for `larder --version` and the health
// answer. The file runs from proto/ in the repository and from dist/proto/ once built, so
// look upwards for the package.json that declares the `larder` bin (whatever the package's
// name). Read once, synchronously, at load: a few hundred bytes.

import { readFileSync } from "node:fs";

function findVersion(): string {
  for (const relative of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), "utf8")) as { bin?: Record<string, string>; version?: string };
      if (pkg.bin?.["larder"] !== undefined && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not this one
    }
  }
  return "unknown";
}

/** The package's version, e.g. "0.1.0"; "unknown" if its package.json is not found. */
export const PACKAGE_VERSION: string = findVersion();
