import { act, version, type ComponentType, type ReactNode } from 'react';
import { hydrateRoot } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { expect, it, vi } from 'vitest';
import { createConsentTracker, memoryStorage, trackerCoreAdapter, type ConsentTracker } from 'consent-tracker';
import { ConsentGate, ConsentTrackerProvider, useConsentTracker } from 'consent-tracker/react';
import { REACT_MODES } from './react-modes.js';

/**
 * Server rendering and hydration checks, shared by the React 19 suite and the React 18 one
 * (which runs them against React 18 installed apart, in test/react-18).
 */

/** Shows the phase and level; records every render's phase in `seen`. */
function Status({ seen }: { seen: string[] }) {
  const { phase, level } = useConsentTracker();
  seen.push(phase);
  return <p id="status">{`${phase} ${level}`}</p>;
}

type Wrapper = ComponentType<{ children?: ReactNode }>;

function page(Wrapper: Wrapper, provider: { create: () => ConsentTracker<object> } | { tracker: ConsentTracker<object> }, seen: string[]): ReactNode {
  return (
    <Wrapper>
      <ConsentTrackerProvider {...provider}>
        <Status seen={seen} />
        <ConsentGate atLeast="full" fallback={<p>accept to watch</p>}>
          <p>the video</p>
        </ConsentGate>
      </ConsentTrackerProvider>
    </Wrapper>
  );
}

/** A consent tracker on a storage that counts every call, and the number of times it was made. */
function countingFactory(endpoint: string) {
  const made = { trackers: 0, storageCalls: 0 };
  const base = memoryStorage();
  const storage = {
    getItem: (key: string) => ((made.storageCalls += 1), base.getItem(key)),
    setItem: (key: string, value: string) => ((made.storageCalls += 1), base.setItem(key, value)),
  };
  const create = () => {
    made.trackers += 1;
    return createConsentTracker({ adapter: trackerCoreAdapter({ endpoint }), storage });
  };
  return { made, create };
}

/** Rendering on the server: `booting`, the gate's fallback, and nothing created, read or stored. */
export function serverRenderingChecks(endpoint: () => string) {
  for (const { mode, Wrapper } of REACT_MODES) serverRendering(endpoint, mode, Wrapper);
}

function serverRendering(endpoint: () => string, mode: string, Wrapper: Wrapper) {
  it(`renders booting and the gate's fallback, with no window and no tracker made (React ${version}, ${mode})`, () => {
    expect(typeof window).toBe('undefined');
    const { made, create } = countingFactory(endpoint());
    const seen: string[] = [];
    const html = renderToString(page(Wrapper, { create }, seen));
    expect(html).toContain('booting');
    expect(html).toContain('accept to watch');
    expect(html).not.toContain('the video');
    expect(made).toEqual({ trackers: 0, storageCalls: 0 });
  });
}

/**
 * What React said on the console, but its reminder that updates after the test's act() (the
 * live tracker booting on its own timers) were not wrapped in act(): that is about the test, not
 * about hydration.
 */
const complaintsOf = (calls: unknown[][]) => calls.filter((call) => !String(call[0]).includes('not wrapped in act('));

/** Hydrates `html` with `app`: the phases rendered, React's complaints, and the status shown once live. */
async function hydrate(html: string, app: (seen: string[]) => ReactNode, live: string) {
  // As testing libraries do: React then expects act() around updates.
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
  const container = document.createElement('div');
  container.innerHTML = html;
  document.body.append(container);
  const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  const recoverable: unknown[] = [];
  const seen: string[] = [];
  try {
    await act(async () => {
      hydrateRoot(container, app(seen), { onRecoverableError: (error) => recoverable.push(error) });
    });
    await vi.waitFor(() => expect(container.querySelector('#status')?.textContent).toBe(live));
    return { seen, complaints: [...complaintsOf(errors.mock.calls), ...recoverable] };
  } finally {
    errors.mockRestore();
    container.remove();
  }
}

/** Hydrating what the server rendered: no warning, `booting` in the first client render, then the live state. */
export function hydrationChecks(endpoint: () => string) {
  for (const { mode, Wrapper } of REACT_MODES) hydration(endpoint, mode, Wrapper);
}

function hydration(endpoint: () => string, mode: string, Wrapper: Wrapper) {
  it(`a consent tracker created before hydration, already past booting: the first client render is still booting, and no warning (React ${version}, ${mode})`, async () => {
    const consent = createConsentTracker({ adapter: trackerCoreAdapter({ endpoint: endpoint() }), storage: memoryStorage() });
    await consent.ready;
    const html = renderToString(page(Wrapper, { tracker: consent }, []));
    const { seen, complaints } = await hydrate(html, (s) => page(Wrapper, { tracker: consent }, s), 'undecided none');
    expect(seen[0]).toBe('booting');
    expect(complaints).toEqual([]);
    await consent.stop();
  });

  it(`hydrates without a warning: the first client render is booting, then the live state (React ${version}, ${mode})`, async () => {
    const { made, create } = countingFactory(endpoint());
    const html = renderToString(page(Wrapper, { create }, []));
    const { seen, complaints } = await hydrate(html, (s) => page(Wrapper, { create }, s), 'undecided none');
    expect(seen[0]).toBe('booting');
    expect(complaints).toEqual([]);
    expect(made.trackers).toBe(1);
  });
}
