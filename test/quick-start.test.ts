import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fakeLocalStorage } from './helpers/local-storage.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * The README's quick starts, run as written against the test collector (only the endpoint is
 * changed): every event they track reaches it, and none is refused.
 */

const ROOT = join(import.meta.dirname, '..');
const GENERATED = join(import.meta.dirname, '.generated');
const EXAMPLE_ENDPOINT = 'https://collector.example.com';

/** The README's TypeScript block that shows `marker`. */
function quickStart(marker: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').find((code) => code.includes(marker));
  if (!block) throw new Error(`no README quick start shows ${marker}`);
  return block;
}

const collector = useCollector();
const globals = globalThis as Record<string, unknown>;
afterAll(() => {
  for (const name of ['localStorage', 'showBanner', 'showConsentBanner', 'getIdfa']) delete globals[name];
});

describe('the README quick starts, run against the collector', () => {
  it.each([
    ['plain tracker-core', 'trackerCoreAdapter({ endpoint', 'open'],
    ['React Native', 'reactNativeAdapter({', undefined],
  ])('%s delivers what it tracks', async (name, marker, action) => {
    // What the app brings: a Web Storage, its banner, its ad id lookup.
    Object.assign(globals, { localStorage: fakeLocalStorage(), showBanner: () => undefined, showConsentBanner: () => undefined, getIdfa: async () => undefined });
    mkdirSync(GENERATED, { recursive: true });
    const file = join(GENERATED, `${name.replace(/\W+/g, '-')}.ts`);
    writeFileSync(file, `${quickStart(marker).replaceAll(EXAMPLE_ENDPOINT, collector.current.url)}\nexport {};\n`);
    await import(file);
    const events = await collector.current.waitForEvents(1);
    if (action) expect(events.map((e) => e.payload.se_ac)).toContain(action);
    expect(events.every((e) => e.payload.p !== undefined && e.payload.tv !== undefined)).toBe(true);
    expect(collector.current.badEvents()).toEqual([]);
  });
});
