/**
 * The web demo's server: starts the test collector on 127.0.0.1 and serves the demo page (a Vite
 * + React app on the browser adapter) beside it, with `/wire`, what the collector received.
 * `npm run demo` runs it (demo/main.ts).
 */
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { startCollector } from '../src/testing/index.js';

const at = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export async function serveDemo(port = 0) {
  const collector = await startCollector();
  const server = await createServer({
    root: at('./web/'),
    configFile: false,
    logLevel: 'warn',
    plugins: [
      react(),
      {
        name: 'demo-wire',
        configureServer(dev) {
          dev.middlewares.use('/wire', (_request, response) => {
            response.setHeader('content-type', 'application/json');
            response.end(JSON.stringify(collector.events()));
          });
        },
        transformIndexHtml: (html) => html.replace('<head>', `<head><script>window.DEMO_COLLECTOR = ${JSON.stringify(collector.url)};</script>`),
      },
    ],
    resolve: {
      alias: [
        { find: /^consent-tracker$/, replacement: at('../src/index.ts') },
        { find: /^consent-tracker\/(browser|react|visualize)$/, replacement: at('../src/$1/index.ts') },
      ],
    },
    server: { host: '127.0.0.1', port, strictPort: port !== 0 },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0] ?? '';
  return { url, collector, close: async () => Promise.all([server.close(), collector.stop()]) };
}
