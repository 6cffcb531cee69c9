import { defineConfig } from 'tsdown';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    'react-native': 'src/react-native/index.ts',
    react: 'src/react/index.ts',
    browser: 'src/browser/index.ts',
    visualize: 'src/visualize/index.ts',
    cli: 'src/cli/bin.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  fixedExtension: false,
  // The testing entry runs on Node; the core entry uses no Node built-in.
  // The React entry imports the core by the package's own name, so an app has one copy of it.
  deps: { neverBundle: [/^node:/, /^consent-tracker(\/visualize)?$/] },
  // The bundler's own helpers go to a chunk of their own: left in an entry's chunk (the React
  // Native one), every CommonJS entry would load that entry, and React Native with it.
  outputOptions: { codeSplitting: { groups: [{ name: 'runtime', test: /rolldown[\\/]runtime/ }] } },
});
