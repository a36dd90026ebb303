// How the console shows keys and values: a JSON-like notation in which the types JSON lacks
// are marked (`12n` bigint, `Map {k => v}`, `Set [..]`, `Date("...")`, `bytes("hex")` for a
// Uint8Array and `Buffer("hex")` for a Node.js Buffer, typed arrays by name, -0, NaN and the
// infinities as themselves). ui/parse.ts reads the same notation back, so a value shown can
// be copied into the put form and comes back as the same types.

import { Buffer } from "buffer";

export type Token = readonly [text: string, kind: TokenKind];
export type TokenKind = "str" | "num" | "bigint" | "bool" | "null" | "mark" | "bytes" | "punct" | "key";

const TYPED_ARRAY_NAMES = [
  "Int8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
] as const;

/** The tokens of `value`, on one line (compact) or indented two spaces a level (pretty). */
export function tokens(value: unknown, pretty: boolean): Token[] {
  const out: Token[] = [];
  write(value, out, pretty ? "" : undefined, new Set());
  return out;
}

/** The notation as one string. */
export function text(value: unknown, pretty = false): string {
  return tokens(value, pretty)
    .map(([t]) => t)
    .join("");
}

export function numberText(n: number): string {
  return Object.is(n, -0) ? "-0" : String(n);
}

export function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function write(value: unknown, out: Token[], indent: string | undefined, seen: Set<object>): void {
  switch (typeof value) {
    case "string":
      out.push([JSON.stringify(value), "str"]);
      return;
    case "number":
      out.push([numberText(value), "num"]);
      return;
    case "bigint":
      out.push([`${value}n`, "bigint"]);
      return;
    case "boolean":
      out.push([String(value), "bool"]);
      return;
    case "undefined":
      out.push(["undefined", "null"]);
      return;
    case "object":
      break;
    default:
      out.push([String(value), "mark"]);
      return;
  }
  if (value === null) {
    out.push(["null", "null"]);
    return;
  }
  if (seen.has(value)) {
    out.push(["[circular]", "mark"]);
    return;
  }
  if (value instanceof Date) {
    const time = value.getTime();
    out.push(["Date(", "mark"], [Number.isNaN(time) ? "NaN" : JSON.stringify(value.toISOString()), Number.isNaN(time) ? "num" : "str"], [")", "mark"]);
    return;
  }
  if (value instanceof Uint8Array) {
    // proto/values.ts tells the two apart (a Buffer comes back a Buffer), and so does the notation.
    out.push([Buffer.isBuffer(value) ? "Buffer(" : "bytes(", "mark"], [`"${hex(value)}"`, "bytes"], [")", "mark"]);
    return;
  }
  if (value instanceof RegExp) {
    out.push([String(value), "mark"]);
    return;
  }
  seen.add(value);
  if (ArrayBuffer.isView(value)) {
    const name = TYPED_ARRAY_NAMES.find((n) => value.constructor.name === n) ?? value.constructor.name;
    out.push([`${name} `, "mark"]);
    list(out, "[", "]", Array.from(value as unknown as ArrayLike<unknown>), (item, i) => write(item, out, i, seen), indent);
  } else if (Array.isArray(value)) {
    list(out, "[", "]", value, (item, i) => write(item, out, i, seen), indent);
  } else if (value instanceof Map) {
    out.push(["Map ", "mark"]);
    list(out, "{", "}", [...value], ([k, v], i) => {
      write(k, out, i, seen);
      out.push([" => ", "punct"]);
      write(v, out, i, seen);
    }, indent);
  } else if (value instanceof Set) {
    out.push(["Set ", "mark"]);
    list(out, "[", "]", [...value], (item, i) => write(item, out, i, seen), indent);
  } else {
    list(out, "{", "}", Object.entries(value), ([k, v], i) => {
      out.push([JSON.stringify(k), "key"], [": ", "punct"]);
      write(v, out, i, seen);
    }, indent);
  }
  seen.delete(value);
}

function list<T>(out: Token[], open: string, close: string, items: readonly T[], each: (item: T, indent: string | undefined) => void, indent: string | undefined): void {
  if (items.length === 0) {
    out.push([open + close, "punct"]);
    return;
  }
  if (indent === undefined) {
    out.push([open, "punct"]);
    items.forEach((item, i) => {
      if (i > 0) out.push([", ", "punct"]);
      each(item, undefined);
    });
    out.push([close, "punct"]);
    return;
  }
  const inner = `${indent}  `;
  out.push([`${open}\n`, "punct"]);
  items.forEach((item, i) => {
    out.push([inner, "punct"]);
    each(item, inner);
    out.push([i < items.length - 1 ? ",\n" : "\n", "punct"]);
  });
  out.push([indent + close, "punct"]);
}

/** The tokens as spans (class `t-KIND`), for a table cell or a <pre>. */
export function render(value: unknown, pretty: boolean): DocumentFragment {
  const fragment = document.createDocumentFragment();
  for (const [t, kind] of tokens(value, pretty)) {
    if (kind === "punct") {
      fragment.append(t);
      continue;
    }
    const span = document.createElement("span");
    span.className = `t-${kind}`;
    span.textContent = t;
    fragment.append(span);
  }
  return fragment;
}
