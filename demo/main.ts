/**
 * `npm run demo`: serves the demo page (the browser adapter, the live chart, what the collector
 * receives, and the React Native run) on 127.0.0.1 beside a local collector, and prints its URL.
 * `npm run demo -- --script` drives the same page in a headless Chromium instead, prints what
 * each collector received, and exits non-zero on any leak.
 */
if (process.argv.includes('--script')) {
  await import('./script-run.js');
} else {
  const { serveDemo } = await import('./serve.js');
  const { url } = await serveDemo(Number(process.env.DEMO_PORT ?? 5173));
  console.log(`consent-tracker demo: open ${url}\n(a local collector on 127.0.0.1 receives what the page sends; Ctrl-C to stop)`);
}

export {};
