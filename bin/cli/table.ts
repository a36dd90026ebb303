// Tables for people, drawn like the Rich tables of Modal's CLI (heavy header, one space of
// padding), so that `modal dict items` and `larder dict items` read the same:
//
//   ┏━━━━━┳━━━━━━━┓
//   ┃ Key ┃ Value ┃
//   ┡━━━━━╇━━━━━━━┩
//   │ a   │ 123   │
//   └─────┴───────┘
//
// Every row is one line: control characters in a cell (a newline in a value, a terminal
// escape) are shown escaped, as JSON writes them, so output stays aligned and greppable.

import stringWidth from "string-width";

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function escapeControls(cell: string): string {
  return cell.replace(CONTROL, (c) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

/**
 * Width in terminal columns: East Asian wide characters and emoji take two, combining
 * marks and zero-width characters none (string-width, which tracks Unicode's tables).
 */
function width(text: string): number {
  return stringWidth(text);
}

function line(left: string, fill: string, join: string, right: string, widths: number[]): string {
  return left + widths.map((w) => fill.repeat(w + 2)).join(join) + right;
}

function row(bar: string, cells: string[], widths: number[]): string {
  return bar + cells.map((c, i) => ` ${c}${" ".repeat(widths[i]! - width(c))} `).join(bar) + bar;
}

/** The table as text, ending with a newline. */
export function renderTable(columns: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const body = rows.map((r) => columns.map((_, i) => escapeControls(r[i] ?? "")));
  const widths = columns.map((c, i) => Math.max(width(c), ...body.map((r) => width(r[i]!))));
  const lines = [
    line("┏", "━", "┳", "┓", widths),
    row("┃", [...columns], widths),
    line("┡", "━", "╇", "┩", widths),
    ...body.map((r) => row("│", r, widths)),
    line("└", "─", "┴", "┘", widths),
  ];
  return lines.join("\n") + "\n";
}
