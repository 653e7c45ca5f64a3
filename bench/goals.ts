// One row of the goals table that `npm run bench` (bench/run.ts) puts at the
// top of docs/BENCHMARKS.md: a benchmark prints it as one line, "GOAL " and
// JSON, beside its own output, from figures measured in the same run.
export interface GoalRow {
  /** What is measured, as the table names it. */
  figure: string;
  /** The baseline measured in the same run. */
  baseline: string;
  /** The figure measured now. */
  value: string;
  /** The goal, in words. */
  goal: string;
  met: boolean;
}

export const GOAL_PREFIX = "GOAL ";

export function goal(row: GoalRow): void {
  console.log(`${GOAL_PREFIX}${JSON.stringify(row)}`);
}

/** The rows in a benchmark's output; other lines are left alone. */
export function goalsIn(output: string): GoalRow[] {
  return output
    .split("\n")
    .filter((l) => l.startsWith(GOAL_PREFIX))
    .map((l) => JSON.parse(l.slice(GOAL_PREFIX.length)) as GoalRow);
}
