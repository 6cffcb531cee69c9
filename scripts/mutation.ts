/**
 * `npm run mutation [-- --group NAME] [-- --files a.ts,b.ts]`: runs StrykerJS once per group of
 * scripts/mutation-groups.ts (or the one named), each against its own tests, and prints each
 * file's score from the JSON reports in reports/mutation/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MUTATION_GROUPS, mutationGroup } from './mutation-groups.js';

const { values } = parseArgs({ options: { group: { type: 'string' }, files: { type: 'string' } } });
const groups = values.group === undefined ? MUTATION_GROUPS : [mutationGroup(values.group)];
const only = values.files?.split(',');

/** Killed, timed out or not compiling: the score is these over every mutant (those no test reaches count as surviving). */
const DETECTED = new Set(['Killed', 'Timeout', 'CompileError', 'RuntimeError']);

interface Mutant {
  readonly status: string;
  readonly mutatorName: string;
  readonly replacement?: string;
  readonly location: { readonly start: { readonly line: number; readonly column: number }; readonly end: { readonly line: number; readonly column: number } };
}

const readReport = (reportFile: string) => (JSON.parse(readFileSync(reportFile, 'utf8')) as { files: Record<string, { mutants: Mutant[] }> }).files;

function printScore(label: string, mutants: ReadonlyArray<Pick<Mutant, 'status'>>): void {
  const covered = mutants.filter((m) => m.status !== 'NoCoverage' && m.status !== 'Ignored');
  const detected = covered.filter((m) => DETECTED.has(m.status)).length;
  const scored = mutants.filter((m) => m.status !== 'Ignored').length;
  console.log(`${label}: ${detected}/${scored} detected (${((100 * detected) / Math.max(1, scored)).toFixed(1)} %; ${scored - covered.length} of the undetected reached by no test)`);
}

function printScores(reportFile: string): void {
  for (const [file, { mutants }] of Object.entries(readReport(reportFile))) printScore(file, mutants);
}

/**
 * A file that several groups mutate (the chart: its guards and actions in one, its configuration
 * in another), from the reports of those groups found in reports/mutation/: a mutant is detected
 * if any group's tests detected it, and left out only if every group left it out.
 */
function printCombinedScore(file: string): void {
  const reports = MUTATION_GROUPS.filter((g) => g.files.includes(file)).map((g) => `reports/mutation/${g.name}.json`);
  if (reports.length < 2 || !reports.every((r) => existsSync(r))) return;
  const statuses = new Map<string, string[]>();
  for (const report of reports) {
    for (const m of readReport(report)[file]?.mutants ?? []) {
      const { start, end } = m.location;
      const key = `${m.mutatorName}@${start.line}:${start.column}-${end.line}:${end.column}:${m.replacement ?? ''}`;
      statuses.set(key, [...(statuses.get(key) ?? []), m.status]);
    }
  }
  const combined = [...statuses.values()].map((all) => ({
    status: all.find((status) => DETECTED.has(status)) ?? all.find((status) => status === 'Survived') ?? all.find((status) => status !== 'Ignored') ?? 'Ignored',
  }));
  printScore(`${file}, over ${reports.length} groups`, combined);
}

for (const group of groups) {
  const files = only === undefined ? group.files : group.files.filter((f) => only.includes(f));
  if (files.length === 0) continue;
  console.log(`\n# ${group.name}: ${files.join(', ')}`);
  // A run narrowed to some files reports apart, so that narrowed runs side by side do not overwrite each other.
  const report = only === undefined ? group.name : `${group.name}.${files.map((f) => f.replace(/^.*\//, '').replace(/\.ts$/, '')).join('+')}`;
  const run = spawnSync('npx', ['stryker', 'run'], { stdio: 'inherit', env: { ...process.env, MUTATION_GROUP: group.name, MUTATE: files.join(','), MUTATION_REPORT: report, MUTATION_TMP: `.stryker-tmp/${report}`, MUTATION_IGNORE_STATIC: group.ignoreStatic ? '1' : '0' } });
  if (run.status !== 0) process.exit(run.status ?? 1);
  printScores(`reports/mutation/${report}.json`);
}

for (const file of new Set(groups.flatMap((g) => g.files))) printCombinedScore(file);
