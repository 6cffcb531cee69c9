import { readFile, writeFile } from 'node:fs/promises';
import { consentMachine } from 'consent-tracker';
import { toDot, toMermaid } from 'consent-tracker/visualize';
import { renderSvg } from '../src/cli/run-cli.js';

/**
 * Writes the consent chart drawn from the machine into docs/consent-machine.md (between its
 * chart markers) and docs/consent-machine.svg. `npm run chart` runs it; a test fails when either
 * differs from what the machine draws now.
 */
export const CHART_PAGE = new URL('../docs/consent-machine.md', import.meta.url);
export const CHART_SVG = new URL('../docs/consent-machine.svg', import.meta.url);
const START = '<!-- chart:start (written by npm run chart) -->';
const END = '<!-- chart:end -->';

/** The page with its chart block replaced by `mermaid`. */
export function withChart(page: string, mermaid: string): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/consent-machine.md needs the markers ${START} and ${END}`);
  return `${page.slice(0, start + START.length)}\n\`\`\`mermaid\n${mermaid}\`\`\`\n${page.slice(end)}`;
}

export async function writeChart(): Promise<void> {
  const page = await readFile(CHART_PAGE, 'utf8');
  await writeFile(CHART_PAGE, withChart(page, toMermaid(consentMachine, { direction: 'TB' })));
  await writeFile(CHART_SVG, await renderSvg(toDot(consentMachine)));
}

if (process.argv[1]?.endsWith('write-chart.ts')) await writeChart();
