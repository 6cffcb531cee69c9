import { describe } from 'vitest';
import { serverRenderingChecks } from './helpers/server-rendering.js';
import { useCollector } from './helpers/use-collector.js';

const collector = useCollector();

describe('server rendering (react-dom/server, no DOM)', () => {
  serverRenderingChecks(() => collector.current.url);
});
