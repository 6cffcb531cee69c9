import { createRoot } from 'react-dom/client';
import { StrictMode } from 'react';
import { createConsentTracker } from 'consent-tracker';
import { browserAdapter } from 'consent-tracker/browser';
import { ConsentTrackerProvider } from 'consent-tracker/react';
import { DemoPage } from './demo-page.js';

/** The collector the demo server started, as it tells the page. */
const collector = (window as unknown as { DEMO_COLLECTOR: string }).DEMO_COLLECTOR;

const consent = createConsentTracker({
  adapter: browserAdapter({ namespace: 'demo', endpoint: collector, appId: 'demo-shop', contexts: { webPage: true, browser: true, session: true }, bufferSize: 1 }),
});

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <ConsentTrackerProvider tracker={consent}>
      <DemoPage />
    </ConsentTrackerProvider>
  </StrictMode>,
);
