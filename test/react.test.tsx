// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { Profiler, useState, type ReactNode } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { createConsentTracker, selectPhase, type ConsentTracker, type CoreTracker } from 'consent-tracker';
import { ConsentGate, ConsentTrackerProvider, useConsentTracker } from 'consent-tracker/react';
import { findLeaks } from 'consent-tracker/testing';
import { trackerCoreHarness } from './helpers/adapter-harness.js';
import { heldAdapter } from './helpers/held-adapter.js';
import { useApps, type App } from './helpers/launch.js';
import { REACT_MODES } from './helpers/react-modes.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * useConsentTracker, ConsentTrackerProvider and ConsentGate in React DOM, each suite in
 * StrictMode and without: the status through the lifecycle, decisions from the page checked on
 * the wire, and re-renders of the selector form.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);
afterEach(cleanup);

/** Shows the hook's view as text, and the decisions as buttons. */
function ConsentPanel() {
  const { level, phase, decided, isApplying, error, setLevel, retry, tracker } = useConsentTracker<CoreTracker>();
  return (
    <section>
      <p data-testid="status">{`${phase} ${level} decided=${String(decided)} applying=${String(isApplying)} error=${error?.code ?? 'none'}`}</p>
      <button onClick={() => void setLevel('full', 'banner').catch(() => undefined)}>Accept all</button>
      <button onClick={() => void setLevel('none', 'banner').catch(() => undefined)}>Refuse</button>
      <button onClick={() => void retry().catch(() => undefined)}>Retry</button>
      <button onClick={() => tracker?.core.track(buildStruct('clicked'))}>Track</button>
    </section>
  );
}

import { buildStructEvent } from '@snowplow/tracker-core';
const buildStruct = (action: string) => buildStructEvent({ category: 'react', action });

const status = () => screen.getByTestId('status').textContent;

describe.each(REACT_MODES)('useConsentTracker in React DOM ($mode)', ({ Wrapper }) => {
  const show = (app: App, children: ReactNode = <ConsentPanel />) =>
    render(
      <Wrapper>
        <ConsentTrackerProvider tracker={app.consent}>{children}</ConsentTrackerProvider>
      </Wrapper>,
    );

  it('reports booting, then undecided, applying while a decision is applied, then active', async () => {
    const app = apps.launch(trackerCoreHarness, { device: trackerCoreHarness.device(), holdApply: true });
    show(app);
    expect(status()).toBe('booting none decided=false applying=false error=none');
    await app.control.finishApply();
    await waitFor(() => expect(status()).toBe('undecided none decided=false applying=false error=none'));
    fireEvent.click(screen.getByRole('button', { name: 'Accept all' }));
    await waitFor(() => expect(status()).toBe('applying none decided=true applying=true error=none'));
    await act(() => app.control.finishApply());
    await waitFor(() => expect(status()).toBe('active full decided=true applying=false error=none'));
  });

  it('reports a failed change with its error, and the retry that brings it into force', async () => {
    const app = apps.launch(trackerCoreHarness, { device: trackerCoreHarness.device(), holdApply: true });
    show(app);
    await app.control.finishApply();
    await waitFor(() => expect(status()).toMatch(/^undecided/));
    fireEvent.click(screen.getByRole('button', { name: 'Accept all' }));
    await act(() => app.control.failApply());
    await waitFor(() => expect(status()).toBe('failed none decided=true applying=false error=APPLY_FAILED'));
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(status()).toMatch(/^applying/));
    await act(() => app.control.finishApply());
    await waitFor(() => expect(status()).toBe('active full decided=true applying=false error=none'));
  });

  it('a level chosen with a button is what the collector receives: anonymous before, identified after', async () => {
    const app = apps.launch(trackerCoreHarness, { device: trackerCoreHarness.device() });
    show(app);
    await waitFor(() => expect(status()).toMatch(/^undecided none/));
    fireEvent.click(screen.getByRole('button', { name: 'Track' }));
    const [anonymous] = await collector.current.waitForEvents(1);
    fireEvent.click(screen.getByRole('button', { name: 'Accept all' }));
    await waitFor(() => expect(status()).toMatch(/^active full/));
    fireEvent.click(screen.getByRole('button', { name: 'Track' }));
    const events = await collector.current.waitForEvents(2);
    expect(findLeaks(events, (e) => (e === anonymous ? 'none' : 'full'))).toEqual([]);
    expect(events[0]?.anonymous).toBe(true);
    expect(events[1]?.anonymous).toBe(false);
    expect(events[1]?.payload.uid).toBe('user-1');
  });

  it('the selector form re-renders only when what it selects changes', async () => {
    const app = apps.launch(trackerCoreHarness, { device: trackerCoreHarness.device(), holdApply: true });
    const renders = { phase: 0, whole: 0 };
    function PhaseOnly() {
      const phase = useConsentTracker(selectPhase);
      return <p data-testid="phase">{phase}</p>;
    }
    show(
      app,
      <>
        <Profiler id="phase" onRender={() => (renders.phase += 1)}>
          <PhaseOnly />
        </Profiler>
        <Profiler id="whole" onRender={() => (renders.whole += 1)}>
          <ConsentPanel />
        </Profiler>
      </>,
    );
    await app.control.finishApply();
    await waitFor(() => expect(screen.getByTestId('phase').textContent).toBe('undecided'));
    const afterBoot = { ...renders };
    // Events tracked change the chart's context nowhere: no re-render.
    for (let i = 0; i < 5; i++) app.track(`no-render-${i}`);
    await collector.current.waitForEvents(5);
    expect(renders).toEqual(afterBoot);
    // A decision changes the phase twice (applying, active): the phase-only component renders twice.
    fireEvent.click(screen.getByRole('button', { name: 'Accept all' }));
    await waitFor(() => expect(screen.getByTestId('phase').textContent).toBe('applying'));
    await act(() => app.control.finishApply());
    await waitFor(() => expect(screen.getByTestId('phase').textContent).toBe('active'));
    expect(renders.phase - afterBoot.phase).toBe(2);
  });

  it('ConsentGate shows its children only at or above its level', async () => {
    const app = apps.launch(trackerCoreHarness, { device: trackerCoreHarness.device() });
    show(
      app,
      <>
        <ConsentPanel />
        <ConsentGate atLeast="full" fallback={<p>Accept to watch the video</p>}>
          <p>the video</p>
        </ConsentGate>
      </>,
    );
    expect(screen.getByText('Accept to watch the video')).toBeTruthy();
    await waitFor(() => expect(status()).toMatch(/^undecided/));
    fireEvent.click(screen.getByRole('button', { name: 'Accept all' }));
    expect(await screen.findByText('the video')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Refuse' }));
    expect(await screen.findByText('Accept to watch the video')).toBeTruthy();
  });

  it('a factory is called once, even when StrictMode renders twice', async () => {
    let made = 0;
    let consent: ConsentTracker<CoreTracker> | undefined;
    const create = () => {
      made += 1;
      consent = createConsentTracker({ adapter: heldAdapter(collector.current.url).adapter, fetch: (input, init) => fetch(input, init) });
      return consent;
    };
    render(
      <Wrapper>
        <ConsentTrackerProvider create={create}>
          <ConsentPanel />
        </ConsentTrackerProvider>
      </Wrapper>,
    );
    await waitFor(() => expect(status()).toMatch(/^undecided/));
    expect(made).toBe(1);
    await consent?.stop();
  });
});

describe.each(REACT_MODES)('the provider and the gate, found in review ($mode)', ({ Wrapper }) => {
  it('a factory written inline, a new function at every render, makes one consent tracker across re-renders', async () => {
    let made = 0;
    const trackers: Array<ConsentTracker<object>> = [];
    let rerender!: () => void;
    function Page() {
      const [count, setCount] = useState(0);
      rerender = () => setCount((n) => n + 1);
      return (
        <ConsentTrackerProvider
          create={() => {
            made += 1;
            const consent = createConsentTracker({ adapter: heldAdapter(collector.current.url).adapter });
            trackers.push(consent);
            return consent;
          }}
        >
          <p data-testid="renders">{count}</p>
          <ConsentPanel />
        </ConsentTrackerProvider>
      );
    }
    render(
      <Wrapper>
        <Page />
      </Wrapper>,
    );
    await waitFor(() => expect(status()).toMatch(/^undecided/));
    act(() => rerender());
    act(() => rerender());
    expect(screen.getByTestId('renders').textContent).toBe('2');
    expect(status()).toMatch(/^undecided/);
    expect(made).toBe(1);
    await Promise.all(trackers.map((consent) => consent.stop()));
  });

  it('ConsentGate stays closed while booting, whatever its level: the stored decision may be off', async () => {
    const app = apps.launch(trackerCoreHarness, { device: trackerCoreHarness.device(), holdApply: true });
    render(
      <Wrapper>
        <ConsentTrackerProvider tracker={app.consent}>
          <ConsentPanel />
          <ConsentGate atLeast="none" fallback={<p>not yet</p>}>
            <p>anonymous statistics widget</p>
          </ConsentGate>
        </ConsentTrackerProvider>
      </Wrapper>,
    );
    expect(status()).toMatch(/^booting none/);
    expect(screen.getByText('not yet')).toBeTruthy();
    await app.control.finishApply();
    expect(await screen.findByText('anonymous statistics widget')).toBeTruthy();
  });
});

describe('misuse', () => {
  it('a hook outside the provider throws an error that says what to do', () => {
    const silence = console.error;
    console.error = () => undefined;
    try {
      expect(() => render(<ConsentPanel />)).toThrow(/inside <ConsentTrackerProvider>.*create the consent tracker once, outside render/);
    } finally {
      console.error = silence;
    }
  });

  it('a provider without a tracker or a factory, and ConsentGate with an unknown level, throw typed errors', () => {
    const silence = console.error;
    console.error = () => undefined;
    try {
      expect(() => render(<ConsentTrackerProvider {...({} as { tracker: ConsentTracker<object> })} />)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
      const app = apps.launch(trackerCoreHarness, { device: trackerCoreHarness.device() });
      expect(() =>
        render(
          <ConsentTrackerProvider tracker={app.consent}>
            <ConsentGate atLeast={'everything' as never} />
          </ConsentTrackerProvider>,
        ),
      ).toThrow(expect.objectContaining({ code: 'INVALID_LEVEL' }));
    } finally {
      console.error = silence;
    }
  });
});
