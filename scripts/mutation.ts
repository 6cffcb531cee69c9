/**
 * `npm run mutation [-- --group NAME] [-- --files a.ts,b.ts]`: runs StrykerJS once per group of
 * scripts/mutation-groups.ts (or the one named), each against its own tests, and prints each
 * file's score from the JSON reports in reports/mutation/.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MUTATION_GROUPS, mutationGroup } from './mutation-groups.js';

const { values } = parseArgs({ options: { group: { type: 'string' }, files: { type: 'string' } } });
const groups = values.group === undefined ? MUTATION_GROUPS : [mutationGroup(values.group)];
const only = values.files?.split(',');

/** Killed, timed out or not compiling: the score is these over every mutant (those no test reaches count as surviving). */
const DETECTED = new Set(['Killed', 'Timeout', 'CompileError', 'RuntimeError']);

function printScores(reportFile: string): void {
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { files: Record<string, { mutants: Array<{ status: string }> }> };
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const covered = mutants.filter((m) => m.status !== 'NoCoverage' && m.status !== 'Ignored');
    const detected = covered.filter((m) => DETECTED.has(m.status)).length;
    const scored = mutants.filter((m) => m.status !== 'Ignored').length;
    console.log(`${file}: ${detected}/${scored} detected (${((100 * detected) / Math.max(1, scored)).toFixed(1)} %; ${scored - covered.length} of the undetected reached by no test)`);
  }
}

for (const group of groups) {
  const files = only === undefined ? group.files : group.files.filter((f) => only.includes(f));
  if (files.length === 0) continue;
  console.log(`\n# ${group.name}: ${files.join(', ')}`);
  // A run narrowed to some files reports apart, so that narrowed runs side by side do not overwrite each other.
  const report = only === undefined ? group.name : files.map((f) => f.replace(/^.*\//, '').replace(/\.ts$/, '')).join('+');
  const run = spawnSync('npx', ['stryker', 'run'], { stdio: 'inherit', env: { ...process.env, MUTATION_GROUP: group.name, MUTATE: files.join(','), MUTATION_REPORT: report, MUTATION_TMP: `.stryker-tmp/${report}` } });
  if (run.status !== 0) process.exit(run.status ?? 1);
  printScores(`reports/mutation/${report}.json`);
}
