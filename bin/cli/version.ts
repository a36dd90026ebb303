// `larder --version`: the version of the package this file ships in (proto/version.ts).

import { PACKAGE_VERSION } from "../../proto/index.ts";

export async function version(): Promise<string> {
  return PACKAGE_VERSION;
}
