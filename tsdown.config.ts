import { defineConfig } from 'tsdown';

export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts', 'react-native': 'src/react-native/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  fixedExtension: false,
  // The testing entry runs on Node; the core entry uses no Node built-in.
  deps: { neverBundle: [/^node:/] },
});
