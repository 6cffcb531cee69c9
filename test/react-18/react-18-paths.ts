import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** React 18, installed apart from the project's React 19 (this folder is an npm workspace). */
const at = (path: string) => join(dirname(fileURLToPath(import.meta.url)), 'node_modules', path);

/** Where each React module the tests and their dependencies import is found, for React 18. */
export const REACT_18: Readonly<Partial<Record<string, string>>> = {
  react: at('react/index.js'),
  'react/jsx-runtime': at('react/jsx-runtime.js'),
  'react/jsx-dev-runtime': at('react/jsx-dev-runtime.js'),
  'react-dom': at('react-dom/index.js'),
  'react-dom/client': at('react-dom/client.js'),
  'react-dom/server': at('react-dom/server.node.js'),
};
