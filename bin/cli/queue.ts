// `larder queue ...`: Modal's `modal queue` commands, plus `put`.

import type { ObjectInfo, Backend } from "../../proto/index.ts";
import { NotFoundError } from "../../proto/index.ts";
import type { Command, OptionSpec, ParsedArgs } from "./args.ts";
import {
  booleanOption,
  parseCount,
  parseNonNegativeInteger,
  parseValue,
  stringOption,
  UsageError,
  variadicValues,
} from "./args.ts";
import { confirm, YES_OPTION } from "./confirm.ts";
import { CONNECTION_OPTIONS, withConnection } from "./connection.ts";
import { jsonTimestamp, tableTimestamp, textOf, toJsonLine, toJson } from "./format.ts";
import type { Group } from "./help.ts";
import { createCommand, deleteCommand, describe, JSON_OPTION, listColumns, lookupQueue, NAME_ARGUMENT, environmentOf } from "./objects.ts";
import { renderTable } from "./table.ts";

const PARTITION_OPTION: Record<string, OptionSpec> = {
  partition: {
    type: "string",
    short: "p",
    valueName: "P",
    help: "Name of the partition to use, otherwise use the default (anonymous) partition.",
  },
};

/** Queues whose partitions are counted at once by `queue list`: one request each. */
const STATS_CONCURRENCY = 8;

function partitionOf(args: ParsedArgs): { partition?: string } {
  const partition = stringOption(args, "partition");
  return partition === undefined ? {} : { partition };
}

interface QueueRow {
  info: ObjectInfo;
  partitions: number;
  totalSize: number;
}

/** Partition and item counts per queue; a queue deleted meanwhile is left out. */
async function withStats(backend: Backend, infos: readonly ObjectInfo[]): Promise<QueueRow[]> {
  const rows: Array<QueueRow | undefined> = new Array(infos.length);
  let next = 0;
  const worker = async () => {
    while (next < infos.length) {
      const i = next++;
      try {
        const stats = await backend.queueStats(infos[i]!.id);
        rows[i] = { info: infos[i]!, partitions: stats.partitions, totalSize: stats.items };
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STATS_CONCURRENCY, infos.length) }, worker));
  return rows.filter((r): r is QueueRow => r !== undefined);
}

const list: Command = {
  path: "queue list",
  summary: "List all named Queues.",
  description: "Partitions counts the partitions that hold items; Total size counts items across all of them.",
  positionals: [],
  options: { ...JSON_OPTION, ...CONNECTION_OPTIONS },
  run: (args, io) =>
    withConnection(args, io, async ({ store, backend }) => {
      const json = booleanOption(args, "json");
      const rows = await withStats(backend, await store.queues.list());
      if (json) {
        const objects = rows.map((r) => {
          const [name, created_at, created_by] = listColumns(r.info, true);
          return { name, created_at, created_by, partitions: r.partitions, total_size: r.totalSize };
        });
        await io.out(toJson(objects) + "\n");
      } else {
        const table = rows.map((r) => [...listColumns(r.info, false).map(String), String(r.partitions), String(r.totalSize)]);
        await io.out(renderTable(["Name", "Created at", "Created by", "Partitions", "Total size"], table));
      }
    }),
};

const put: Command = {
  path: "queue put",
  summary: "Put one or more values at the end of a queue partition, in order, all or none.",
  description:
    "Each VALUE is parsed as JSON when it is valid JSON (123, true, null, \"text\", [1,2], {\"a\":1}),\n" +
    "and is otherwise stored as the string itself. --string always stores strings.\n" +
    "Values starting with '-' go after '--': larder queue put NAME -- -5\n" +
    "When the partition is full, waits for room (without limit unless --timeout-ms), then fails with QUEUE_FULL.",
  positionals: [NAME_ARGUMENT("queue"), { name: "VALUE", variadic: true, help: "The values (JSON, or else strings)." }],
  options: {
    ...PARTITION_OPTION,
    string: { type: "boolean", short: "s", help: "Store each VALUE as a string, without trying JSON." },
    "timeout-ms": { type: "string", valueName: "MS", help: "How long to wait for room in a full partition; 0 tries once." },
    ...CONNECTION_OPTIONS,
  },
  run: (args, io) => {
    const asString = booleanOption(args, "string");
    const values = variadicValues(put, args).map((text) => parseValue(text, asString));
    const timeout = stringOption(args, "timeout-ms");
    const timeoutMs = timeout === undefined ? undefined : parseNonNegativeInteger("--timeout-ms", timeout, put.path);
    return withConnection(args, io, async ({ store }) => {
      const queue = await lookupQueue(store, args.positionals["NAME"]!);
      await queue.putMany(values, { ...partitionOf(args), ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    });
  },
};

const peek: Command = {
  path: "queue peek",
  summary: "Print the next N items in the queue or queue partition (without removal).",
  description: "One item per line: strings as they are, other values as JSON (or util.inspect when JSON would lose them).",
  positionals: [NAME_ARGUMENT("queue"), { name: "N", optional: true, help: "How many items to print (default 1)." }],
  options: {
    ...PARTITION_OPTION,
    json: { type: "boolean", help: "Print each item as one line of JSON." },
    ...CONNECTION_OPTIONS,
  },
  run: (args, io) =>
    withConnection(args, io, async ({ store }) => {
      const n = parseCount("N", args.positionals["N"], 1, peek.path);
      const show = booleanOption(args, "json") ? toJsonLine : textOf;
      const queue = await lookupQueue(store, args.positionals["NAME"]!);
      if (n === 0) return;
      let printed = 0;
      for await (const item of queue.iterate(partitionOf(args))) {
        await io.out(show(item) + "\n");
        if (++printed >= n) break;
      }
    }),
};

const len: Command = {
  path: "queue len",
  summary: "Print the length of a queue partition or the total length of all partitions.",
  positionals: [NAME_ARGUMENT("queue")],
  options: {
    ...PARTITION_OPTION,
    total: { type: "boolean", short: "t", help: "Compute the sum of the queue lengths across all partitions" },
    ...CONNECTION_OPTIONS,
  },
  run: (args, io) => {
    const total = booleanOption(args, "total");
    if (total && stringOption(args, "partition") !== undefined) {
      throw new UsageError("--partition and --total cannot be used together", len.path);
    }
    return withConnection(args, io, async ({ store }) => {
      const queue = await lookupQueue(store, args.positionals["NAME"]!);
      await io.out(`${await queue.len({ ...partitionOf(args), total })}\n`);
    });
  },
};

const clear: Command = {
  path: "queue clear",
  summary: "Clear the contents of a queue by removing all of its data.",
  description: "Clears the default partition, or the one given with --partition, or all of them with --all.",
  positionals: [NAME_ARGUMENT("queue")],
  options: {
    ...PARTITION_OPTION,
    all: { type: "boolean", short: "a", help: "Clear the contents of all partitions." },
    ...YES_OPTION,
    ...CONNECTION_OPTIONS,
  },
  run: (args, io) => {
    const all = booleanOption(args, "all");
    if (all && stringOption(args, "partition") !== undefined) {
      throw new UsageError("--partition and --all cannot be used together", clear.path);
    }
    return withConnection(args, io, async ({ store, environment }) => {
      const name = args.positionals["NAME"]!;
      const queue = await lookupQueue(store, name);
      const yes = booleanOption(args, "yes");
      if (!yes) await confirm(io, `irrevocably delete the contents of ${describe("queue", name, await environmentOf(queue, environment))}`, yes);
      await queue.clear({ ...partitionOf(args), all });
    });
  },
};

const partitions: Command = {
  path: "queue partitions",
  summary: "List the partitions of a queue with their lengths, reserved counts and expiry.",
  description:
    "In partition-key order (UTF-8 bytes), the default partition first. Length counts the items,\n" +
    "reserved ones included; Reserved counts those reserved now; Expires at is when the partition\n" +
    "expires if nothing more is put (never: an Infinity TTL). --json prints an array of\n" +
    "{ partition (null for the default), len, reserved, expires_at (null for never) }.",
  positionals: [NAME_ARGUMENT("queue")],
  options: { ...JSON_OPTION, ...CONNECTION_OPTIONS },
  run: (args, io) =>
    withConnection(args, io, async ({ store }) => {
      const json = booleanOption(args, "json");
      const queue = await lookupQueue(store, args.positionals["NAME"]!);
      const rows = [];
      for await (const p of queue.partitions()) rows.push(p);
      if (json) {
        const objects = rows.map((p) => ({
          partition: p.partition ?? null,
          len: p.len,
          reserved: p.reserved,
          expires_at: p.expiresAt === undefined ? null : jsonTimestamp(p.expiresAt),
        }));
        await io.out(toJson(objects) + "\n");
      } else {
        const table = rows.map((p) => [
          p.partition ?? "(default)",
          String(p.len),
          String(p.reserved),
          p.expiresAt === undefined ? "never" : tableTimestamp(p.expiresAt),
        ]);
        await io.out(renderTable(["Partition", "Length", "Reserved", "Expires at"], table));
      }
    }),
};

export const QUEUE_GROUP: Group = {
  name: "queue",
  summary: "Manage Larder Queues and inspect their contents.",
  commands: [list, createCommand("queue"), put, peek, len, partitions, clear, deleteCommand("queue")],
};
