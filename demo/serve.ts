/**
 * The web demo's server: starts the test collector on 127.0.0.1, builds the demo page (a Vite +
 * React app on the browser adapter) once, and serves it beside the collector, with `/wire`, what
 * the collector received. `npm run demo` runs it (demo/main.ts). A build rather than a dev
 * server: nothing is compiled or reloaded while the page runs.
 */
import react from '@vitejs/plugin-react';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { startCollector } from '../src/testing/index.js';

const at = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.svg': 'image/svg+xml' };

async function buildPage(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'consent-tracker-demo-'));
  await build({
    root: at('./web/'),
    configFile: false,
    logLevel: 'warn',
    plugins: [react()],
    resolve: {
      alias: [
        { find: /^consent-tracker$/, replacement: at('../src/index.ts') },
        { find: /^consent-tracker\/(browser|react|visualize)$/, replacement: at('../src/$1/index.ts') },
      ],
    },
    build: { outDir, emptyOutDir: true, reportCompressedSize: false },
  });
  return outDir;
}

export async function serveDemo(port = 0) {
  const [collector, outDir] = await Promise.all([startCollector(), buildPage()]);
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/wire') return void response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(collector.events()));
    const file = normalize(join(outDir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(outDir)) return void response.writeHead(404).end();
    try {
      let body: string | Buffer = readFileSync(file);
      // The page learns where the collector is.
      if (file.endsWith('index.html')) body = body.toString('utf8').replace('<head>', `<head><script>window.DEMO_COLLECTOR = ${JSON.stringify(collector.url)};</script>`);
      response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/`;
  return { url, collector, close: async () => Promise.all([new Promise((resolve) => server.close(resolve)), collector.stop()]) };
}
