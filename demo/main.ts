/**
 * `npm run demo`: serves the demo page (the browser adapter, the live chart, what the collector
 * receives) on 127.0.0.1 beside a local collector, and prints its URL. `npm run demo -- --script`
 * runs the scripted, terminal run instead: tracker-core and the React Native tracker through
 * each level, exiting non-zero on any leak.
 */
if (process.argv.includes('--script')) {
  await import('./run.js');
} else {
  const { serveDemo } = await import('./serve.js');
  const { url } = await serveDemo(Number(process.env.DEMO_PORT ?? 5173));
  console.log(`consent-tracker demo: open ${url}\n(a local collector on 127.0.0.1 receives what the page sends; Ctrl-C to stop)`);
}

export {};
