// Dicts and queues share the object services (names, ids, environments, list, delete).
// Tests of those rules run once per kind through this narrow view of a service.

import type { ObjectInfo, ObjectService, Store } from "../../proto/api.ts";

export type Kind = "dicts" | "queues";
export const KINDS: readonly Kind[] = ["dicts", "queues"];

/** The id prefix the spec gives each kind. */
export const ID_PREFIX: Record<Kind, string> = { dicts: "di-", queues: "qu-" };

/** What every handle has, whatever its kind. */
export interface AnyHandle {
  readonly id: string;
  readonly name: string | undefined;
  info(): Promise<ObjectInfo>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function service(store: Store, kind: Kind): ObjectService<AnyHandle> {
  return store[kind] as unknown as ObjectService<AnyHandle>;
}
