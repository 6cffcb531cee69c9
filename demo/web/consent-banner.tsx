import { useConsentTracker } from 'consent-tracker/react';
import { LEVEL_TEXTS, LEVELS_SHOWN } from './level-texts.js';

/** The banner a first visit sees: the four choices, until one is made. */
export function ConsentBanner() {
  const { decided, phase, setLevel } = useConsentTracker();
  if (decided || phase !== 'undecided') return null;
  return (
    <aside className="banner" aria-label="Consent banner">
      <div>
        <strong>This shop measures how it is used.</strong> Choose what it may record; nothing
        leaves this page until you do.
      </div>
      <div className="banner-actions">
        {LEVELS_SHOWN.map((level) => (
          <button key={level} className={level === 'full' ? 'primary' : ''} onClick={() => void setLevel(level, 'banner')}>
            {LEVEL_TEXTS[level].choice}
          </button>
        ))}
      </div>
    </aside>
  );
}
