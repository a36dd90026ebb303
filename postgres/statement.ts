// One SQL statement being built: data-modifying CTEs and their parameters, numbered as
// they are added (a round's writes, postgres/round.ts; request records, requests.ts).

export class Statement {
  readonly parts: string[] = [];
  readonly params: unknown[] = [];

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** Adds a CTE and returns its name. */
  cte(body: string): string {
    const name = `w${this.parts.length}`;
    this.parts.push(`${name} AS (${body})`);
    return name;
  }
}
