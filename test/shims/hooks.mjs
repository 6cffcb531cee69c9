/**
 * Node module hooks that let the React Native tracker run in plain Node (bench, demo), as
 * vitest's aliases do for the tests: `react-native` and its native companions resolve to the test
 * shims, and the tracker's ESM build stops re-exporting tracker-core's type-only names as values
 * (Metro and Vite tolerate that; Node does not).
 */
import { URL } from 'node:url';
import * as trackerCore from '@snowplow/tracker-core';

const shim = (name) => new URL(`./${name}`, import.meta.url).href;
const SHIMS = {
  'react-native': shim('react-native.ts'),
  'react-native-get-random-values': shim('get-random-values.ts'),
  '@react-native-async-storage/async-storage': shim('async-storage.ts'),
};
const TYPE_REEXPORT = /export \{([^}]*)\} from '@snowplow\/tracker-core';/;

export async function resolve(specifier, context, nextResolve) {
  const target = SHIMS[specifier];
  // Through the next resolver, so that tsx compiles the TypeScript shims.
  return nextResolve(target ?? specifier, context);
}

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (!url.includes('/@snowplow/react-native-tracker/dist/module/types.js')) return result;
  const source = String(result.source);
  const kept = (names) => names.split(',').map((name) => name.trim()).filter((name) => name in trackerCore);
  return { ...result, source: source.replace(TYPE_REEXPORT, (_, names) => `export { ${kept(names).join(', ')} } from '@snowplow/tracker-core';`) };
}
