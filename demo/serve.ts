/**
 * The web demo's server: starts the test collector on 127.0.0.1, builds the demo page (a Vite +
 * React app on the browser adapter) once, and serves it beside the collector. It also runs the
 * React Native part (the real RN tracker, in Node) once at start. `npm run demo` runs it
 * (demo/main.ts). A build rather than a dev server: nothing is compiled or reloaded while the
 * page runs.
 *
 * Routes besides the page: `GET /wire` (what the collector received, as rows), `POST /level`
 * (the level the page has in force), `POST /tracked` (an event about to be tracked: answers its
 * name), `POST /captured` (the level it was tracked at), `GET` and `POST /collector`
 * (`{"online":false}` for an outage), `GET /react-native` (the React Native run's rows). One
 * visitor at a time: the level is the page's, whichever tab reports it.
 */
import react from '@vitejs/plugin-react';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { isConsentLevel } from '../machines/levels.js';
import { startCollector } from '../src/testing/index.js';
import { runReactNative } from './react-native-run.js';
import { createWireLog } from './wire-log.js';

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
    build: { outDir, emptyOutDir: true, reportCompressedSize: false, chunkSizeWarningLimit: 4096 },
  });
  return outDir;
}

const readJson = async (request: IncomingMessage): Promise<Record<string, unknown>> => {
  let body = '';
  for await (const chunk of request) body += String(chunk);
  const parsed: unknown = JSON.parse(body || '{}');
  return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
};
const json = (response: ServerResponse, value: unknown, status = 200) => void response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

export async function serveDemo(port = 0) {
  const [collector, outDir] = await Promise.all([startCollector(), buildPage()]);
  const wire = createWireLog(collector);
  const reactNative = runReactNative();
  // Failing is shown on the page (and fails the scripted run), not thrown here.
  reactNative.catch(() => undefined);
  let online = true;

  const api = async (request: IncomingMessage, response: ServerResponse, path: string): Promise<boolean> => {
    if (path === '/wire') return json(response, wire.rows()), true;
    if (path === '/react-native') return json(response, await reactNative.catch((error: unknown) => ({ error: String(error) }))), true;
    if (path === '/collector' && request.method === 'GET') return json(response, { online }), true;
    if (request.method !== 'POST') return false;
    const body = await readJson(request);
    if (path === '/level' && isConsentLevel(body.level)) {
      wire.setLevel(body.level);
      return json(response, { level: wire.level() }), true;
    }
    if (path === '/tracked' && typeof body.action === 'string') return json(response, { label: wire.track(body.action) }), true;
    if (path === '/captured' && typeof body.label === 'string' && isConsentLevel(body.level)) {
      wire.capture(body.label, body.level);
      return json(response, { label: body.label }), true;
    }
    if (path === '/collector' && typeof body.online === 'boolean') {
      online = body.online;
      collector.failWith(online ? undefined : 503);
      return json(response, { online }), true;
    }
    return json(response, { error: `bad request to ${path}` }, 400), true;
  };
  const page = (response: ServerResponse, path: string) => {
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
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    api(request, response, path)
      .then((handled) => handled || page(response, path))
      .catch((error: unknown) => json(response, { error: String(error) }, 400));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}/`;
  return {
    url,
    collector,
    wire,
    reactNative,
    close: async () => Promise.all([new Promise((resolve) => server.close(resolve)), collector.stop()]),
  };
}

export type DemoServer = Awaited<ReturnType<typeof serveDemo>>;
