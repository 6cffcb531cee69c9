export { toMermaid, type ChartOptions } from './to-mermaid.js';
export { toDot } from './to-dot.js';
export { logTransitions, type LogTransitionsOptions } from './log-transitions.js';
