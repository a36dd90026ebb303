// A plain-text table: a header, a rule, aligned columns (numbers right, text left), and
// optional blank lines between groups of rows. Written to stdout so that it can be piped.

export interface Column {
  readonly title: string;
  readonly align?: "left" | "right";
}

/** A row of cells, or null for a blank separator line. */
export type Row = readonly string[] | null;

export function renderTable(columns: readonly Column[], rows: readonly Row[]): string {
  const widths = columns.map((c, i) =>
    Math.max(c.title.length, ...rows.map((r) => (r === null ? 0 : (r[i] ?? "").length))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (columns[i]!.align === "left" ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(columns.map((c) => c.title)), widths.map((w) => "-".repeat(w)).join("  ")];
  for (const row of rows) out.push(row === null ? "" : line(columns.map((_, i) => row[i] ?? "")));
  return out.join("\n");
}

export function printTable(columns: readonly Column[], rows: readonly Row[]): void {
  process.stdout.write(renderTable(columns, rows) + "\n");
}
