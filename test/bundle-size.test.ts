import { describe, expect, it } from 'vitest';
import { bundleSize } from '../bench/bundle-size.js';

/**
 * Bundle budgets: each entry as an app bundles it (ESM, minified, gzipped, peers left out),
 * built from the sources, so the sizes are the same on every run.
 */
const BUDGETS = [
  { entry: 'src/index.ts', name: 'consent-tracker', platform: 'neutral', gzipKb: 25.5 },
  { entry: 'src/react-native/index.ts', name: 'consent-tracker/react-native', platform: 'neutral', gzipKb: 5 },
  { entry: 'src/testing/index.ts', name: 'consent-tracker/testing', platform: 'node', gzipKb: 8.5 },
  { entry: 'src/browser/index.ts', name: 'consent-tracker/browser', platform: 'neutral', gzipKb: 1.75 },
  { entry: 'src/react/index.ts', name: 'consent-tracker/react', platform: 'neutral', gzipKb: 1.25 },
  { entry: 'src/visualize/index.ts', name: 'consent-tracker/visualize', platform: 'neutral', gzipKb: 3.25 },
] as const;

describe('bundle budgets', () => {
  it.each(BUDGETS)('$name stays within $gzipKb kB gzipped', async ({ entry, platform, gzipKb }) => {
    const { gzipped } = await bundleSize(entry, platform);
    expect(gzipped / 1024).toBeLessThanOrEqual(gzipKb);
    // A budget far above the size hides growth: keep it within a fifth of it.
    expect(gzipped / 1024).toBeGreaterThan(gzipKb * 0.8);
  });
});
