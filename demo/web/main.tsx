import { createRoot } from 'react-dom/client';
import { StrictMode } from 'react';
import { ConsentTrackerProvider } from 'consent-tracker/react';
import { consent } from './consent.js';
import { DemoPage } from './demo-page.js';

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <ConsentTrackerProvider tracker={consent}>
      <DemoPage />
    </ConsentTrackerProvider>
  </StrictMode>,
);
