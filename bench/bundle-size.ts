import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The peers and Node built-ins an app brings itself (and the core, for the entries on top of it): left out of every bundle measured. */
const EXTERNAL = ['consent-tracker', '@snowplow/tracker-core', '@snowplow/browser-tracker', '@snowplow/react-native-tracker', '@react-native-async-storage/async-storage', 'xstate', 'react', '@xstate/react', 'node:*'];

/** The size of one entry as an app bundles it: ESM, minified, dependencies included, peers left out. */
export async function bundleSize(entry: string, platform: 'neutral' | 'node'): Promise<{ minified: number; gzipped: number }> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    platform,
    mainFields: ['module', 'main'],
    external: EXTERNAL,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  return { minified: code.length, gzipped: gzipSync(code).length };
}

/**
 * What an entry adds to the core when an app bundles both: the gzipped size of the two together
 * less the core's alone (the parts of the core the entry uses are counted once, in the core).
 */
export async function sizeOnTopOfCore(entry: string): Promise<number> {
  const together = await build({
    stdin: { contents: `export * from './src/index.ts';\nexport * from './${entry}';`, resolveDir: process.cwd(), loader: 'ts' },
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    external: EXTERNAL,
    logLevel: 'silent',
  });
  const code = together.outputFiles[0]?.contents ?? new Uint8Array();
  return gzipSync(code).length - (await bundleSize('src/index.ts', 'neutral')).gzipped;
}
