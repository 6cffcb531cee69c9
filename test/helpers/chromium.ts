import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';

export { findChromium, launchChromium } from '../../demo/launch-chromium.js';

/** Serves the test page and its script (bundled from test/browser-page) on 127.0.0.1. */
export async function servePage(): Promise<{ url: string; close(): Promise<void> }> {
  const bundle = await build({
    entryPoints: [new URL('../browser-page/page-app.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    tsconfig: new URL('../../tsconfig.json', import.meta.url).pathname,
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]?.text ?? '';
  const html = '<!doctype html><meta charset="utf-8"><title>consent-tracker</title><a id="partner" href="https://partner.example.org/landing">partner</a><script src="/page.js"></script>';
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/page.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else response.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
