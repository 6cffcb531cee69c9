export { startCollector, type Collector, type CollectorOptions } from './start-collector.js';
export { findLeaks, type FindLeaksOptions, type Leak } from './find-leaks.js';
export { findRelinks, type Relink } from './find-relinks.js';
export { cookieJarFetch } from './cookie-jar-fetch.js';
export type { BadEvent, CollectedEvent, CollectedRequest } from './collected-event.js';
