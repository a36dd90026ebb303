// Checks the server's answers against the table of calls (proto/calls.ts): each reply
// field must have its row's type, and comes back typed (an object record as an
// ObjectRecord, an absent or `nil` optional field as undefined). An answer that does not
// fit is the server's fault: INTERNAL, naming the field.

import type { ObjectKind, ObjectRecord, PartitionInfo } from "../proto/backend.ts";
import { CALLS, fieldType, type CallName, type FieldType, type ReplyOf } from "../proto/calls.ts";
import { InternalError } from "../proto/errors.ts";

type Reply = Readonly<Record<string, unknown>>;

export function malformed(what: string): InternalError {
  return new InternalError(`malformed answer from the server: ${what}`);
}

function objectFromWire(value: unknown): ObjectRecord {
  const o = value as Record<string, unknown> | null;
  const ok =
    typeof o === "object" && o !== null &&
    typeof o.id === "string" &&
    (o.kind === "dict" || o.kind === "queue") &&
    (o.name === undefined || o.name === null || typeof o.name === "string") &&
    typeof o.environment === "string" &&
    typeof o.createdAt === "number" &&
    typeof o.ephemeral === "boolean" &&
    (o.entryTtlMs === undefined || o.entryTtlMs === null || typeof o.entryTtlMs === "number");
  if (!ok) throw malformed("not an object record");
  return {
    id: o.id as string,
    kind: o.kind as ObjectKind,
    name: (o.name ?? undefined) as string | undefined,
    environment: o.environment as string,
    createdAt: o.createdAt as number,
    ephemeral: o.ephemeral as boolean,
    entryTtlMs: (o.entryTtlMs ?? undefined) as number | undefined,
  };
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

const absent = (v: unknown): boolean => v === undefined || v === null;

function partitionFromWire(value: unknown): PartitionInfo {
  const p = value as Record<string, unknown> | null;
  const ok =
    typeof p === "object" && p !== null &&
    (absent(p.partition) || typeof p.partition === "string") &&
    typeof p.len === "number" &&
    typeof p.reserved === "number" &&
    (absent(p.expiresAt) || typeof p.expiresAt === "number");
  if (!ok) throw malformed("not a partition record { partition?, len, reserved, expiresAt? }");
  return {
    partition: absent(p.partition) ? undefined : (p.partition as string),
    len: p.len as number,
    reserved: p.reserved as number,
    expiresAt: absent(p.expiresAt) ? Infinity : (p.expiresAt as number),
  };
}

/** Reads one present field of a type, or throws malformed() naming it. */
const READERS: Partial<Record<FieldType, (value: unknown, field: string) => unknown>> = {
  bin: (v, f) => {
    if (!isBytes(v)) throw malformed(`'${f}' is not bin`);
    return v;
  },
  "bin[]": (v, f) => {
    if (!Array.isArray(v) || !v.every(isBytes)) throw malformed(`'${f}' is not an array of bin`);
    return v;
  },
  int: (v, f) => {
    if (typeof v !== "number") throw malformed(`'${f}' is not a number`);
    return v;
  },
  bool: (v, f) => {
    if (typeof v !== "boolean") throw malformed(`'${f}' is not a boolean`);
    return v;
  },
  "[bin, bin][]": (v, f) => {
    const ok = Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2 && isBytes(e[0]) && isBytes(e[1]));
    if (!ok) throw malformed(`'${f}' is not an array of [bin, bin]`);
    return v;
  },
  Object: (v) => objectFromWire(v),
  "Object[]": (v, f) => {
    if (!Array.isArray(v)) throw malformed(`'${f}' is not an array`);
    return v.map(objectFromWire);
  },
  "partitions[]": (v, f) => {
    if (!Array.isArray(v)) throw malformed(`'${f}' is not an array`);
    return v.map(partitionFromWire);
  },
  "str[]": (v, f) => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw malformed(`'${f}' is not an array of str`);
    return v;
  },
  float: (v, f) => {
    if (typeof v !== "number") throw malformed(`'${f}' is not a number`);
    return v;
  },
  "reservations[]": (v, f) => {
    const ok =
      Array.isArray(v) &&
      v.every(
        (r) =>
          r !== null &&
          typeof r === "object" &&
          typeof r.token === "string" &&
          isBytes(r.value) &&
          typeof r.deliveries === "number" &&
          typeof r.leaseEndsAt === "number" &&
          (r.partition === undefined || r.partition === null || typeof r.partition === "string"),
      );
    if (!ok) throw malformed(`'${f}' is not an array of { token, value, deliveries, partition, leaseEndsAt }`);
    // In place: the records are this reply's own, and a copy of each (a spread) costs more
    // than the rest of reading it.
    for (const r of v as Array<Record<string, unknown>>) if (r.partition === null) r.partition = undefined;
    return v;
  },
  "items[]": (v, f) => {
    const ok = Array.isArray(v) && v.every((i) => i !== null && typeof i === "object" && isBytes(i.value) && typeof i.cursor === "string");
    if (!ok) throw malformed(`'${f}' is not an array of { value, cursor }`);
    return v;
  },
};

type Check = (reply: Reply) => unknown;

function checker(name: CallName): Check {
  const fields = Object.entries(CALLS[name].reply).map(([field, spec]) => {
    const { type, optional } = fieldType(spec);
    const read = READERS[type];
    if (read === undefined) throw new Error(`no reply reader for the type ${type} (${name}.${field})`);
    return { field, optional, read };
  });
  // An answer with no fields is not looked at: `{}` is all it can say.
  if (fields.length === 0) return (reply) => reply;
  return (reply) => {
    const out: Record<string, unknown> = {};
    for (const { field, optional, read } of fields) {
      const value = reply[field];
      out[field] = optional && (value === undefined || value === null) ? undefined : read(value, field);
    }
    return out;
  };
}

const CHECKS = new Map<CallName, Check>((Object.keys(CALLS) as CallName[]).map((name) => [name, checker(name)]));

/** The reply of `name`, checked and typed by its row's reply fields. */
export function checkReply<N extends CallName>(name: N, reply: Reply): ReplyOf<N> {
  return CHECKS.get(name)!(reply) as ReplyOf<N>;
}
