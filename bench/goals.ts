/**
 * The figures `npm run bench` is judged by: each measured once per round, printed at the end as
 * min / median / max over the rounds, beside its goal.
 */
export interface Goal {
  readonly figure: string;
  /** `min`: the figure must be at least `value`; `max`: at most. */
  readonly kind: 'min' | 'max';
  readonly value: number;
  readonly unit?: string;
}

const recorded: Array<{ goal: Goal; samples: number[] }> = [];

/**
 * Each measurement starts with a round that is not counted: it compiles every variant's code
 * paths, which would otherwise weigh on whichever variant runs them first.
 */
export const FIRST_COUNTED_ROUND = -1;

/** Records a figure's samples (one per round, or one for a deterministic figure) against its goal. */
export function recordFigure(goal: Goal, samples: readonly number[]): void {
  recorded.push({ goal, samples: [...samples] });
}

export const median = (samples: readonly number[]): number => {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** The table of every figure recorded: min, median and max, the goal, and whether the median meets it. */
export function printGoals(): void {
  console.log('\nGoals (ratios measured side by side in each round; the median decides)');
  console.log(`${'figure'.padEnd(66)} ${'min'.padStart(7)} ${'median'.padStart(7)} ${'max'.padStart(7)}   goal        met`);
  for (const { goal, samples } of recorded) {
    const mid = median(samples);
    const met = goal.kind === 'min' ? mid >= goal.value : mid <= goal.value;
    const show = (n: number) => n.toFixed(2).padStart(7);
    const target = `${goal.kind === 'min' ? '≥' : '≤'} ${goal.value}${goal.unit ?? ''}`;
    console.log(`${goal.figure.padEnd(66)} ${show(Math.min(...samples))} ${show(mid)} ${show(Math.max(...samples))}   ${target.padEnd(11)} ${met ? 'yes' : 'no'}`);
  }
}
