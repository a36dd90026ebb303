// The key grammar in docs/format.md, the grammar at the top of engine/layout.ts and the tag
// constants of engine/layout.ts agree: the same rules in the same order, each rule's tag
// byte the constant named after it (rule `dict-entry` is TAG_DICT_ENTRY), the meta keys
// and the format version as the code writes them, and every tag a rule of the grammar.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as layout from "../../engine/layout.ts";
import { UPGRADE_KEY } from "../../engine/upgrade.ts";

const DOC = readFileSync(new URL("../../docs/format.md", import.meta.url), "utf8");
const CODE = readFileSync(new URL("../../engine/layout.ts", import.meta.url), "utf8");

/** The grammar of docs/format.md: the first code block that starts with `key =`. */
function docGrammar(): string {
  const block = /```\n(key\s+=[\s\S]*?)```/.exec(DOC);
  expect(block, "a ``` block starting with `key =` in docs/format.md").not.toBeNull();
  return block![1]!;
}

/** The grammar comment of engine/layout.ts: the `//   ` lines from `key =` on. */
function codeGrammar(): string {
  const lines = CODE.split("\n");
  const start = lines.findIndex((line) => /^\/\/\s+key\s+=/.test(line));
  expect(start).toBeGreaterThanOrEqual(0);
  const out: string[] = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith("//")) break;
    out.push(line.replace(/^\/\/ {0,3}/, ""));
  }
  return out.join("\n");
}

interface Rule {
  readonly name: string;
  /** The key bytes each alternative starts with, as written ("0x00 \"v\"", "0x30 u64:at 0x21"). */
  readonly alternatives: string[];
}

/** `name = 0xNN ... -> value` rules and their `| 0xNN ...` continuation lines. */
function rules(grammar: string): { keys: string[]; rules: Rule[] } {
  const keyLine = /^key\s+=\s+(.*)$/m.exec(grammar);
  expect(keyLine).not.toBeNull();
  const keys = keyLine![1]!.split("|").map((s) => s.trim());
  const out: Rule[] = [];
  for (const line of grammar.split("\n")) {
    const rule = /^([a-z-]+)\s+=\s+(0x[0-9a-f]{2}.*?)(?:\s+->|$)/.exec(line);
    if (rule) {
      out.push({ name: rule[1]!, alternatives: [rule[2]!.trim()] });
      continue;
    }
    const more = /^\s+\|\s+(0x[0-9a-f]{2}.*?)(?:\s+->|$)/.exec(line);
    if (more && out.length > 0) out.at(-1)!.alternatives.push(more[1]!.trim());
  }
  return { keys, rules: out };
}

function tagOf(rule: string): number {
  const constant = (layout as unknown as Record<string, unknown>)[`TAG_${rule.toUpperCase().replace(/-/g, "_")}`];
  expect(typeof constant, `TAG_${rule.toUpperCase().replace(/-/g, "_")} for the rule ${rule}`).toBe("number");
  return constant as number;
}

describe("docs/format.md's key grammar", () => {
  const doc = rules(docGrammar());
  const code = rules(codeGrammar());

  it("has the rules of engine/layout.ts's grammar, in the same order", () => {
    expect(doc.keys).toEqual(code.keys);
    expect(doc.rules.map((r) => r.name)).toEqual(doc.keys);
    expect(code.rules.map((r) => r.name)).toEqual(code.keys);
    expect(doc.rules.map((r) => r.alternatives)).toEqual(code.rules.map((r) => r.alternatives));
  });

  it("gives each rule the tag byte of its TAG_ constant", () => {
    for (const rule of doc.rules) {
      for (const alt of rule.alternatives) expect({ rule: rule.name, tag: alt.slice(0, 4) }).toEqual({ rule: rule.name, tag: `0x${tagOf(rule.name).toString(16).padStart(2, "0")}` });
    }
  });

  it("names every TAG_ constant of engine/layout.ts as a rule", () => {
    const tags = Object.keys(layout).filter((name) => name.startsWith("TAG_"));
    const named = doc.rules.map((r) => `TAG_${r.name.toUpperCase().replace(/-/g, "_")}`);
    expect(tags.sort()).toEqual(named.sort());
    const values = tags.map((name) => (layout as unknown as Record<string, number>)[name]);
    expect(new Set(values).size).toBe(values.length);
  });

  it("writes the meta keys, the ttl index's inner tags and the format version as the code does", () => {
    const meta = doc.rules.find((r) => r.name === "meta")!;
    const written = meta.alternatives.map((alt) => {
      const m = /^0x([0-9a-f]{2}) "(.)"$/.exec(alt);
      expect(m, alt).not.toBeNull();
      return Buffer.from([parseInt(m![1]!, 16), m![2]!.charCodeAt(0)]).toString("hex");
    });
    expect(written).toEqual([layout.VERSION_KEY.toString("hex"), layout.NEXT_NUM_KEY.toString("hex"), UPGRADE_KEY.toString("hex")]);
    const ttl = doc.rules.find((r) => r.name === "ttl")!;
    expect(ttl.alternatives.map((alt) => /0x30 u64:at (0x[0-9a-f]{2})/.exec(alt)?.[1])).toEqual(["0x10", "0x21"]);
    expect([layout.TAG_DICT_ENTRY, layout.TAG_ITEM]).toEqual([0x10, 0x21]);
    expect(docGrammar()).toContain(`u32 FORMAT_VERSION (${layout.FORMAT_VERSION})`);
    expect(DOC).toContain(`This is format version ${layout.FORMAT_VERSION}`);
  });
});
