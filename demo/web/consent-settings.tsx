import { useConsentTracker } from 'consent-tracker/react';
import { LEVEL_TEXTS, LEVELS_SHOWN } from './level-texts.js';

/** The settings panel: each level with what it sends, the one in force marked. */
export function ConsentSettings() {
  const { level, phase, decided, isApplying, error, setLevel } = useConsentTracker();
  return (
    <section>
      <h2>Privacy settings</h2>
      <div className="levels" role="radiogroup" aria-label="Consent level">
        {LEVELS_SHOWN.map((each) => (
          <button key={each} role="radio" aria-checked={decided && each === level} aria-label={each} className={`level${decided && each === level ? ' active' : ''}`} disabled={isApplying} onClick={() => void setLevel(each, 'settings')}>
            <span className="level-name">{LEVEL_TEXTS[each].choice}</span>
            <code>{each}</code>
            <span className="level-wire">{LEVEL_TEXTS[each].wire}</span>
          </button>
        ))}
      </div>
      <p className="status">
        level in force <b>{level}</b> · phase <b>{phase}</b>
        {error ? <span className="problem"> · {error.code}</span> : null}
      </p>
    </section>
  );
}
