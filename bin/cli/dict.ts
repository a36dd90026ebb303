// `larder dict ...`: Modal's `modal dict` commands, plus `put`.
//
// Keys on the command line are always strings, as in Modal's CLI. Values typed on the
// command line are JSON when they parse as JSON, else strings (see args.ts parseValue).

import { KeyError } from "../../proto/index.ts";
import type { Command } from "./args.ts";
import { booleanOption, parseCount, parseValue } from "./args.ts";
import { confirm, YES_OPTION } from "./confirm.ts";
import { CONNECTION_OPTIONS, withConnection } from "./connection.ts";
import { reprOf, textOf, toJson, truncate } from "./format.ts";
import type { Group } from "./help.ts";
import { createCommand, deleteCommand, describe, JSON_OPTION, listColumns, lookupDict, NAME_ARGUMENT, environmentOf } from "./objects.ts";
import { renderTable } from "./table.ts";

/** `dict items` shows this many entries unless N or --all says otherwise (Modal's default). */
export const ITEMS_SHOWN_DEFAULT = 20;

const KEY_ARGUMENT = { name: "KEY", help: "The key, always taken as a string." };

const list: Command = {
  path: "dict list",
  summary: "List all named Dicts.",
  positionals: [],
  options: { ...JSON_OPTION, ...CONNECTION_OPTIONS },
  run: (args, io) =>
    withConnection(args, io, async ({ store }) => {
      const json = booleanOption(args, "json");
      const rows = (await store.dicts.list()).map((info) => listColumns(info, json));
      if (json) {
        await io.out(toJson(rows.map(([name, created_at, created_by]) => ({ name, created_at, created_by }))) + "\n");
      } else {
        await io.out(renderTable(["Name", "Created at", "Created by"], rows.map((r) => r.map(String))));
      }
    }),
};

const clear: Command = {
  path: "dict clear",
  summary: "Clear the contents of a named Dict by deleting all of its data.",
  positionals: [NAME_ARGUMENT("dict")],
  options: { ...YES_OPTION, ...CONNECTION_OPTIONS },
  run: (args, io) =>
    withConnection(args, io, async ({ store, environment }) => {
      const name = args.positionals["NAME"]!;
      const dict = await lookupDict(store, name);
      const yes = booleanOption(args, "yes");
      if (!yes) await confirm(io, `irrevocably delete the contents of ${describe("dict", name, await environmentOf(dict, environment))}`, yes);
      await dict.clear();
    }),
};

const MISSING = Symbol("missing");

const get: Command = {
  path: "dict get",
  summary: "Print the value for a specific key.",
  description:
    "Note: When using the CLI, keys are always interpreted as having a string type.\n" +
    "A missing key prints None, as in Modal's CLI; with --json it is an error (KEY_NOT_FOUND, exit status 1),\n" +
    "so that a script can tell a stored null apart from no entry.",
  positionals: [NAME_ARGUMENT("dict"), KEY_ARGUMENT],
  options: {
    json: { type: "boolean", help: "Print the value as JSON." },
    ...CONNECTION_OPTIONS,
  },
  run: (args, io) =>
    withConnection(args, io, async ({ store, environment }) => {
      const name = args.positionals["NAME"]!;
      const key = args.positionals["KEY"]!;
      const dict = await lookupDict(store, name);
      const value = await dict.get(key, MISSING);
      if (value === MISSING) {
        if (!booleanOption(args, "json")) return io.out("None\n");
        throw new KeyError(`key ${JSON.stringify(key)} not found in ${describe("dict", name, await environmentOf(dict, environment))}`);
      }
      await io.out((booleanOption(args, "json") ? toJson(value) : textOf(value)) + "\n");
    }),
};

const put: Command = {
  path: "dict put",
  summary: "Set the value of a key.",
  description:
    "VALUE is parsed as JSON when it is valid JSON (123, true, null, \"text\", [1,2], {\"a\":1}),\n" +
    "and is otherwise stored as the string itself. --string always stores the string.\n" +
    "A VALUE starting with '-' goes after '--': larder dict put NAME KEY -- -5",
  positionals: [NAME_ARGUMENT("dict"), KEY_ARGUMENT, { name: "VALUE", help: "The value (JSON, or else a string)." }],
  options: {
    string: { type: "boolean", short: "s", help: "Store VALUE as a string, without trying JSON." },
    ...CONNECTION_OPTIONS,
  },
  run: (args, io) =>
    withConnection(args, io, async ({ store }) => {
      const dict = await lookupDict(store, args.positionals["NAME"]!);
      await dict.put(args.positionals["KEY"]!, parseValue(args.positionals["VALUE"]!, booleanOption(args, "string")));
    }),
};

const items: Command = {
  path: "dict items",
  summary: "Print the contents of a Dict.",
  description:
    "Note: By default, this command truncates the contents. Use the `N` argument to control the\n" +
    "amount of data shown or the `--all` option to retrieve the entire Dict, which may be slow.\n" +
    "Cells longer than 80 characters are cut and end with \"...\"; a last row \"...\" means more entries.\n" +
    "With --json, every entry is printed in full, as objects with \"key\" and \"value\".",
  positionals: [
    NAME_ARGUMENT("dict"),
    { name: "N", optional: true, help: `Limit the number of entries shown (default ${ITEMS_SHOWN_DEFAULT}).` },
  ],
  options: {
    all: { type: "boolean", short: "a", help: "Ignore N and print all entries in the Dict (may be slow)." },
    repr: { type: "boolean", short: "r", help: "Display items using util.inspect (strings quoted, types named)." },
    ...JSON_OPTION,
    ...CONNECTION_OPTIONS,
  },
  run: (args, io) =>
    withConnection(args, io, async ({ store }) => {
      const shown = parseCount("N", args.positionals["N"], ITEMS_SHOWN_DEFAULT, "dict items");
      const json = booleanOption(args, "json");
      const limit = json || booleanOption(args, "all") ? Infinity : shown;
      const dict = await lookupDict(store, args.positionals["NAME"]!);
      const entries: Array<[unknown, unknown]> = [];
      let more = false;
      for await (const entry of dict.items()) {
        if (entries.length >= limit) {
          more = true;
          break;
        }
        entries.push(entry);
      }
      if (json) {
        await io.out(toJson(entries.map(([key, value]) => ({ key, value }))) + "\n");
        return;
      }
      const show = booleanOption(args, "repr") ? reprOf : textOf;
      const rows = entries.map(([k, v]) => [truncate(show(k)), truncate(show(v))]);
      if (more) rows.push(["...", "..."]);
      await io.out(renderTable(["Key", "Value"], rows));
    }),
};

export const DICT_GROUP: Group = {
  name: "dict",
  summary: "Manage Larder Dicts and inspect their contents.",
  commands: [list, createCommand("dict"), get, put, items, clear, deleteCommand("dict")],
};
