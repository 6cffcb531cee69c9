// @vitest-environment jsdom
import { describe } from 'vitest';
import { hydrationChecks } from '../helpers/server-rendering.js';
import { useCollector } from '../helpers/use-collector.js';

const collector = useCollector();

describe('hydrating server-rendered HTML on React 18 (react-dom/client)', () => {
  hydrationChecks(() => collector.current.url);
});
