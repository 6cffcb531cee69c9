import type { ReactNativeTracker } from '@snowplow/react-native-tracker';
import { act, createElement, type ReactNode } from 'react';
import TestRenderer, { type ReactTestRenderer } from 'react-test-renderer';
import { describe, expect, it, vi } from 'vitest';
import { ConsentGate, ConsentTrackerProvider, useConsentTracker } from 'consent-tracker/react';
import { findLeaks } from 'consent-tracker/testing';
import { reactNativeHarness } from './helpers/adapter-harness.js';
import { drained, useApps } from './helpers/launch.js';
import { REACT_MODES } from './helpers/react-modes.js';
import { useCollector } from './helpers/use-collector.js';

/**
 * The same hook and gate with the React Native adapter, under a renderer that has no DOM
 * (react-test-renderer, in Node): React Native host components, no `document` anywhere.
 */

const collector = useCollector();
const apps = useApps(() => collector.current.url);

/** React Native's host components, by name, as the native renderer receives them. */
const Text = (props: { testID?: string; children?: ReactNode }) => createElement('Text', props);
const Pressable = (props: { testID: string; onPress: () => void; children?: ReactNode }) => createElement('Pressable', props);

function ConsentScreen() {
  const { phase, level, setLevel, tracker } = useConsentTracker<ReactNativeTracker>();
  return (
    <>
      <Text testID="status">{`${phase} ${level}`}</Text>
      <Pressable testID="accept" onPress={() => void setLevel('full', 'banner')} />
      <Pressable testID="track" onPress={() => void tracker?.trackScreenViewEvent({ name: 'home' })} />
      <ConsentGate atLeast="full" fallback={<Text>chat off</Text>}>
        <Text>chat</Text>
      </ConsentGate>
    </>
  );
}

const text = (root: ReactTestRenderer, testID: string) => root.root.findByProps({ testID }).props.children as string;
const press = (root: ReactTestRenderer, testID: string) => act(() => (root.root.findByProps({ testID }).props.onPress as () => void)());

describe.each(REACT_MODES)('useConsentTracker on React Native, with a renderer that has no DOM ($mode)', ({ Wrapper }) => {
  it('reports the lifecycle, decides from a press, and the collector receives what the level allows', async () => {
    expect(typeof document).toBe('undefined');
    (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
    const app = apps.launch(reactNativeHarness, { device: reactNativeHarness.device() });
    let root!: ReactTestRenderer;
    // react-test-renderer says it is deprecated; that is all it says.
    const warnings = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    await act(async () => {
      root = TestRenderer.create(
        <Wrapper>
          <ConsentTrackerProvider tracker={app.consent}>
            <ConsentScreen />
          </ConsentTrackerProvider>
        </Wrapper>,
      );
    });
    warnings.mockRestore();
    await vi.waitFor(() => expect(text(root, 'status')).toBe('undecided none'));
    expect(root.root.findAllByType('Text' as never).map((node) => node.props.children)).toContain('chat off');
    await press(root, 'track');
    const [anonymous] = await collector.current.waitForEvents(1);
    await press(root, 'accept');
    await vi.waitFor(() => expect(text(root, 'status')).toBe('active full'));
    expect(root.root.findAllByType('Text' as never).map((node) => node.props.children)).toContain('chat');
    await press(root, 'track');
    const events = await collector.current.waitForEvents(2);
    await drained(app);
    expect(findLeaks(events, (e) => (e === anonymous ? 'none' : 'full'))).toEqual([]);
    expect(events[1]?.anonymous).toBe(false);
    await act(async () => root.unmount());
  });
});
