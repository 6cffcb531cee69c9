import Module from 'node:module';
import { REACT_18 } from './react-18-paths.js';

/**
 * Modules Node loads itself (CommonJS packages such as use-sync-external-store, which
 * @xstate/react uses) require React by name: they get React 18 too, so one React runs.
 */
const loader = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const resolve = loader._resolveFilename;
loader._resolveFilename = function (request, ...rest) {
  return resolve.call(this, REACT_18[request] ?? request, ...rest);
};
