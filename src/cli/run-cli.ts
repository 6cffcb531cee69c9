import { consentMachine } from 'consent-tracker';
import { toDot, toMermaid } from 'consent-tracker/visualize';

/** What the command line works with: where output goes, and how a file is written. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly error: (text: string) => void;
  readonly writeFile: (path: string, text: string) => Promise<void>;
}

const USAGE = 'usage: consent-tracker chart [--format mermaid|dot|svg] [--direction LR|TB] [--region PATH] [--compact] [--out FILE]';

/** Renders DOT as SVG with Graphviz compiled to WebAssembly (no system binary), loaded only when asked. */
export async function renderSvg(dot: string): Promise<string> {
  let graphviz: { dot(source: string): string };
  try {
    const { Graphviz } = await import('@hpcc-js/wasm-graphviz');
    graphviz = await Graphviz.load();
  } catch (cause) {
    throw new Error('SVG needs @hpcc-js/wasm-graphviz: npm install --save-dev @hpcc-js/wasm-graphviz', { cause });
  }
  return graphviz.dot(dot);
}

interface ChartCommand {
  format: string;
  direction: 'LR' | 'TB';
  region: string | undefined;
  compact: boolean;
  out: string | undefined;
}

function parse(args: readonly string[]): ChartCommand | string {
  const [command, ...rest] = args;
  if (command !== 'chart') return USAGE;
  const options: Record<string, string> = {};
  let compact = false;
  for (let i = 0; i < rest.length; i += 1) {
    const flag = rest[i] ?? '';
    if (flag === '--compact') {
      compact = true;
      continue;
    }
    const value = rest[(i += 1)];
    if (!['--format', '--direction', '--region', '--out'].includes(flag) || value === undefined) return `unknown or incomplete option '${flag}'\n${USAGE}`;
    options[flag.slice(2)] = value;
  }
  const { format = 'mermaid', direction = 'LR', region, out } = options;
  if (!['mermaid', 'dot', 'svg'].includes(format)) return `--format must be mermaid, dot or svg; got '${format}'\n${USAGE}`;
  if (direction !== 'LR' && direction !== 'TB') return `--direction must be LR or TB; got '${direction}'\n${USAGE}`;
  return { format, direction, region, compact, out };
}

/**
 * `consent-tracker chart`: prints the consent chart, drawn from the machine, as Mermaid, DOT or
 * SVG, or writes it to `--out`. Resolves with the exit code.
 *
 * From a shell: `npx consent-tracker chart --format svg --out chart.svg`, or one region with one
 * arrow per pair of states: `npx consent-tracker chart --region tracker --compact`.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parse(args);
  if (typeof parsed === 'string') {
    io.error(parsed);
    return 2;
  }
  const { format, out, ...chart } = parsed;
  const options = { direction: chart.direction, compact: chart.compact, ...(chart.region === undefined ? {} : { region: chart.region }) };
  let text: string;
  try {
    text = format === 'mermaid' ? toMermaid(consentMachine, options) : format === 'dot' ? toDot(consentMachine, options) : await renderSvg(toDot(consentMachine, options));
  } catch (error) {
    io.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
  if (out === undefined) {
    io.out(text);
    return 0;
  }
  try {
    await io.writeFile(out, text);
  } catch (error) {
    io.error(`could not write ${out}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  return 0;
}
