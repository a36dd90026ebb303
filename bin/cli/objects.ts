// What `larder dict` and `larder queue` share: naming an object in messages, and the
// create and delete commands, which behave the same for both kinds.

import type { Dict, ObjectInfo, Queue, Store } from "../../proto/index.ts";
import { NotFoundError, DEFAULT_ENVIRONMENT } from "../../proto/index.ts";
import type { Command, OptionSpec } from "./args.ts";
import { booleanOption } from "./args.ts";
import { confirm, YES_OPTION } from "./confirm.ts";
import { CONNECTION_OPTIONS, withConnection } from "./connection.ts";
import { jsonTimestamp, tableTimestamp } from "./format.ts";

export type Kind = "dict" | "queue";

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: "boolean", help: "Print JSON for scripts instead of a table." },
};

export const NAME_ARGUMENT = (kind: Kind) => ({ name: "NAME", help: `Name of the ${label(kind)}.` });

export function label(kind: Kind): string {
  return kind === "dict" ? "Dict" : "Queue";
}

/** The object's environment for messages: the one asked for, else the one the server chose (one lookup). */
export async function environmentOf(handle: { info(): Promise<{ environment: string }> }, asked: string | undefined): Promise<string> {
  return asked ?? (await handle.info()).environment;
}

/** "Dict 'pages'", with the environment when it is not the default one. */
export function describe(kind: Kind, name: string, environment: string | undefined): string {
  const where = environment === undefined || environment === DEFAULT_ENVIRONMENT ? "" : ` in environment '${environment}'`;
  return `${label(kind)} '${name}'${where}`;
}

export function services(store: Store, kind: Kind) {
  return kind === "dict" ? store.dicts : store.queues;
}

/** A handle to an existing object; NotFoundError (NOT_FOUND) when there is none. */
export async function lookupDict(store: Store, name: string): Promise<Dict<string, unknown>> {
  return store.dicts.fromName<string, unknown>(name);
}

export async function lookupQueue(store: Store, name: string): Promise<Queue<unknown>> {
  return store.queues.fromName<unknown>(name);
}

/** The columns both list commands start with, for tables and for JSON. */
export function listColumns(info: ObjectInfo, json: boolean): [string, string, string | null] {
  // Larder has no user accounts, so "Created by" is always empty (null in JSON); the
  // column is kept so that output and scripts written for Modal's CLI still line up.
  return [info.name ?? "", json ? jsonTimestamp(info.createdAt) : tableTimestamp(info.createdAt), json ? null : ""];
}

export function createCommand(kind: Kind): Command {
  return {
    path: `${kind} create`,
    summary: `Create a named ${label(kind)}.`,
    description: `Note: This is a no-op when the ${label(kind)} already exists.`,
    positionals: [NAME_ARGUMENT(kind)],
    options: { ...CONNECTION_OPTIONS },
    run: (args, io) =>
      withConnection(args, io, async ({ store }) => {
        await services(store, kind).create(args.positionals["NAME"]!, { allowExisting: true });
      }),
  };
}

export function deleteCommand(kind: Kind): Command {
  const path = `${kind} delete`;
  return {
    path,
    summary: `Delete a named ${label(kind)} and all of its data.`,
    positionals: [NAME_ARGUMENT(kind)],
    options: {
      "allow-missing": { type: "boolean", help: `Don't error if the ${label(kind)} doesn't exist.` },
      ...YES_OPTION,
      ...CONNECTION_OPTIONS,
    },
    run: (args, io) =>
      withConnection(args, io, async ({ store, environment }) => {
        const name = args.positionals["NAME"]!;
        const allowMissing = booleanOption(args, "allow-missing");
        // Look first, so that nobody is asked to confirm deleting what is not there.
        const handle = await existing(store, kind, name, allowMissing);
        if (handle === undefined) return;
        const yes = booleanOption(args, "yes");
        if (!yes) await confirm(io, `irrevocably delete the ${describe(kind, name, await environmentOf(handle, environment))}`, yes);
        await services(store, kind).delete(name, { allowMissing });
      }),
  };
}

async function existing(store: Store, kind: Kind, name: string, allowMissing: boolean): Promise<{ info(): Promise<{ environment: string }> } | undefined> {
  try {
    return await (kind === "dict" ? lookupDict(store, name) : lookupQueue(store, name));
  } catch (err) {
    if (err instanceof NotFoundError && allowMissing) return undefined;
    throw err;
  }
}
