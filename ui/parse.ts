// Reads the notation of ui/format.ts back into a value: JSON, plus `12n`, `Map {k => v}`,
// `Set [..]`, `Date("ISO" or ms)`, `bytes("hex")` (a Uint8Array), `Buffer("hex")`, typed
// arrays by name (`Float64Array [1, 2]`), `NaN`, `Infinity`, `-Infinity`, `-0`,
// `undefined` (inside a value), unquoted object keys and trailing commas.

import { Buffer } from "buffer";

export class ParseError extends Error {}

const TYPED_ARRAYS: Record<string, new (items: ArrayLike<number> & ArrayLike<bigint>) => unknown> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as never;

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const BIGINT = /-?(?:0|[1-9]\d*)n/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const WORD = /[A-Za-z_$][\w$]*/y;
const SPACE = /\s*/y;

export function parseValue(source: string): unknown {
  const parser = new Parser(source);
  const value = parser.value(0);
  parser.end();
  return value;
}

/** Nesting allowed in the notation: well past what anyone types, well inside the stack. */
const DEPTH_MAX = 200;

class Parser {
  private at = 0;

  constructor(private readonly src: string) {}

  end(): void {
    this.space();
    if (this.at < this.src.length) this.fail("unexpected text after the value");
  }

  value(depth: number): unknown {
    if (depth > DEPTH_MAX) this.fail(`nested more than ${DEPTH_MAX} levels`);
    this.space();
    const c = this.src[this.at];
    if (c === undefined) this.fail("a value is missing");
    if (c === '"') return this.string();
    if (c === "[") return this.list("[", "]", depth, () => this.value(depth + 1));
    if (c === "{") return this.object(depth);
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    const word = this.match(WORD);
    if (word === undefined) this.fail(`unexpected ${JSON.stringify(c)}`);
    return this.word(word, depth);
  }

  private word(word: string, depth: number): unknown {
    switch (word) {
      case "null":
        return null;
      case "true":
        return true;
      case "false":
        return false;
      case "NaN":
        return NaN;
      case "undefined":
        return undefined;
      case "Infinity":
        return Infinity;
      case "Map":
        return new Map(this.list("{", "}", depth, () => this.mapEntry(depth)));
      case "Set":
        return new Set(this.list("[", "]", depth, () => this.value(depth + 1)));
      case "Date":
        return this.date();
      case "bytes":
        return new Uint8Array(this.bytes());
      case "Buffer":
        return this.bytes();
    }
    const typed = TYPED_ARRAYS[word];
    if (typed !== undefined) {
      const items = this.list("[", "]", depth, () => this.value(depth + 1));
      try {
        return new typed(items as never);
      } catch (err) {
        this.fail(`${word}: ${(err as Error).message}`);
      }
    }
    this.fail(`unknown word ${JSON.stringify(word)}`);
  }

  private number(): number | bigint {
    if (this.src.startsWith("-Infinity", this.at)) {
      this.at += "-Infinity".length;
      return -Infinity;
    }
    const big = this.match(BIGINT);
    if (big !== undefined) return BigInt(big.slice(0, -1));
    const num = this.match(NUMBER);
    if (num === undefined) this.fail("a number is malformed");
    return Number(num);
  }

  private string(): string {
    const literal = this.match(STRING);
    if (literal === undefined) this.fail("a string is not closed, or holds a raw control character");
    return JSON.parse(literal) as string;
  }

  private object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of this.list("{", "}", depth, () => this.objectEntry(depth))) {
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  private objectEntry(depth: number): [string, unknown] {
    this.space();
    const key = this.src[this.at] === '"' ? this.string() : this.match(WORD);
    if (key === undefined) this.fail("an object key must be a string or a name");
    this.expect(":");
    return [key, this.value(depth + 1)];
  }

  private mapEntry(depth: number): [unknown, unknown] {
    const key = this.value(depth + 1);
    this.expect("=>");
    return [key, this.value(depth + 1)];
  }

  private date(): Date {
    this.expect("(");
    this.space();
    const arg = this.src[this.at] === '"' ? this.string() : this.number();
    this.expect(")");
    const date = new Date(typeof arg === "bigint" ? Number(arg) : arg);
    if (Number.isNaN(date.getTime()) && !(typeof arg === "number" && Number.isNaN(arg))) this.fail(`Date(${JSON.stringify(String(arg))}) is not a date`);
    return date;
  }

  private bytes(): Buffer {
    this.expect("(");
    this.space();
    const hex = this.string().replace(/\s+/g, "");
    this.expect(")");
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) this.fail('bytes("...") takes pairs of hex digits');
    return Buffer.from(hex, "hex");
  }

  private list<T>(open: string, close: string, _depth: number, item: () => T): T[] {
    this.expect(open);
    const items: T[] = [];
    for (;;) {
      this.space();
      if (this.src.startsWith(close, this.at)) {
        this.at += close.length;
        return items;
      }
      items.push(item());
      this.space();
      if (this.src[this.at] === ",") this.at++;
      else if (!this.src.startsWith(close, this.at)) this.fail(`expected "," or "${close}"`);
    }
  }

  private expect(token: string): void {
    this.space();
    if (!this.src.startsWith(token, this.at)) this.fail(`expected "${token}"`);
    this.at += token.length;
  }

  private match(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.at;
    const m = pattern.exec(this.src);
    if (m === null) return undefined;
    this.at = pattern.lastIndex;
    return m[0];
  }

  private space(): void {
    this.match(SPACE);
  }

  private fail(message: string): never {
    throw new ParseError(`${message} (at character ${this.at + 1})`);
  }
}
