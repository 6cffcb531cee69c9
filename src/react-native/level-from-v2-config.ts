import { ConsentError, describe } from '../consent-error.js';
import type { ConsentLevel } from '../../machines/levels.js';
import { toTrackerConfiguration } from '../policy.js';

/**
 * The part of a React Native tracker v2 `trackerConfig` that decides anonymisation. Other v2
 * options (`appId`, `screenContext`, …) may be present; they are ignored.
 *
 * @example
 * ```ts
 * import type { V2TrackerConfig } from 'consent-tracker/react-native';
 * const trackerConfig: V2TrackerConfig = { sessionContext: true, userAnonymisation: true };
 * ```
 */
export interface V2TrackerConfig {
  /** Whether events carry the session entity. v2 default: `true`. */
  readonly sessionContext?: boolean;
  /** Whether client-side user identifiers (session `userId`, IDFA, IDFV) are anonymised. v2 default: `false`. */
  readonly userAnonymisation?: boolean;
}

/**
 * The part of a React Native tracker v2 `emitterConfig` that decides anonymisation. Other v2
 * options (`bufferOption`, `emitRange`, …) may be present; they are ignored.
 *
 * @example
 * ```ts
 * import type { V2EmitterConfig } from 'consent-tracker/react-native';
 * const emitterConfig: V2EmitterConfig = { serverAnonymisation: true };
 * ```
 */
export interface V2EmitterConfig {
  /** Whether requests carry `SP-Anonymous: *`, so the collector drops the IP and `network_userid`. v2 default: `false`. */
  readonly serverAnonymisation?: boolean;
}

/**
 * The controller configuration an app passed to v2's `createTracker`. Other parts
 * (`sessionConfig`, `subjectConfig`, …) may be present; they are ignored.
 *
 * @example
 * ```ts
 * import type { V2Configuration } from 'consent-tracker/react-native';
 * const v2: V2Configuration = {
 *   trackerConfig: { sessionContext: false, userAnonymisation: true },
 *   emitterConfig: { serverAnonymisation: true },
 * };
 * ```
 */
export interface V2Configuration {
  readonly trackerConfig?: V2TrackerConfig;
  readonly emitterConfig?: V2EmitterConfig;
}

/**
 * The consent level that stands for a v2 configuration, as returned by {@link levelFromV2Config}.
 *
 * @example
 * ```ts
 * import { levelFromV2Config, type V2LevelMatch } from 'consent-tracker/react-native';
 * const match: V2LevelMatch = levelFromV2Config({});
 * match.level; // 'full'
 * ```
 */
export interface V2LevelMatch {
  /** The most permissive level that sends no more than the v2 configuration did. */
  readonly level: ConsentLevel;
  /** Whether `level` sends exactly what the v2 configuration sent. */
  readonly exact: boolean;
  /** One sentence for a human: why this level, and what it does differently from v2. */
  readonly note: string;
}

interface V2Switches {
  readonly sessionContext: boolean;
  readonly userAnonymisation: boolean;
  readonly serverAnonymisation: boolean;
}

/** `off` is missing: it sends nothing, so it is never the most permissive level that fits. */
const LEVELS_MOST_PERMISSIVE_FIRST = ['full', 'session-only', 'none'] as const;

/**
 * Finds the consent level that replaces a React Native tracker v2 anonymisation setup
 * (`trackerConfig.sessionContext`, `trackerConfig.userAnonymisation`,
 * `emitterConfig.serverAnonymisation`, with v2's defaults for absent flags). The level is the
 * most permissive one that sends no more than v2 did, so migrating never weakens what a user had.
 *
 * @throws {@link ConsentError} `INVALID_OPTION` when the configuration, `trackerConfig` or
 * `emitterConfig` is not an object, or a flag is present but not a boolean.
 *
 * @example
 * ```ts
 * import { levelFromV2Config } from 'consent-tracker/react-native';
 * levelFromV2Config({
 *   trackerConfig: { sessionContext: false, userAnonymisation: true },
 *   emitterConfig: { serverAnonymisation: true },
 * }); // { level: 'none', exact: true, note: "'none' reproduces ... exactly." }
 * levelFromV2Config({ trackerConfig: { sessionContext: true, userAnonymisation: true } });
 * // { level: 'session-only', exact: false, note: "... adds SP-Anonymous: *, which v2 did not send; ..." }
 * ```
 */
export function levelFromV2Config<Configuration extends V2Configuration>(config: Configuration): V2LevelMatch {
  // Generic, so that a configuration typed with v2's own interfaces, or a literal with v2's other
  // options, is accepted as it is.
  const v2 = readV2Switches(config);
  const level = LEVELS_MOST_PERMISSIVE_FIRST.find((candidate) => sendsNoMoreThan(switchesOf(candidate), v2)) ?? 'none';
  const exact = sameSwitches(switchesOf(level), v2);
  return { level, exact, note: exact ? exactNote(level, v2) : approximateNote(level, v2) };
}

function readV2Switches(config: unknown): V2Switches {
  if (!isObject(config)) throw invalid('the v2 configuration must be an object', config);
  const trackerConfig = readPart(config, 'trackerConfig');
  const emitterConfig = readPart(config, 'emitterConfig');
  return {
    sessionContext: readFlag(trackerConfig, 'trackerConfig', 'sessionContext', true),
    userAnonymisation: readFlag(trackerConfig, 'trackerConfig', 'userAnonymisation', false),
    serverAnonymisation: readFlag(emitterConfig, 'emitterConfig', 'serverAnonymisation', false),
  };
}

function readPart(config: Readonly<Record<string, unknown>>, name: string): Readonly<Record<string, unknown>> {
  const part = config[name];
  if (part === undefined) return {};
  if (!isObject(part)) throw invalid(`${name} must be an object`, part);
  return part;
}

function readFlag(part: Readonly<Record<string, unknown>>, partName: string, name: string, v2Default: boolean): boolean {
  const value = part[name];
  if (value === undefined) return v2Default;
  if (typeof value !== 'boolean') throw invalid(`${partName}.${name} must be a boolean`, value);
  return value;
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(problem: string, received: unknown): ConsentError {
  return new ConsentError('INVALID_OPTION', `${problem}; got ${describe(received)}`);
}

/** Read from the policy rather than restated, so the two directions cannot drift apart. */
function switchesOf(level: ConsentLevel): V2Switches {
  const { trackerConfig, emitterConfig } = toTrackerConfiguration(level);
  return { ...trackerConfig, ...emitterConfig };
}

/** Each switch only ever removes data in one direction: fewer sessions, more anonymisation. */
function sendsNoMoreThan(level: V2Switches, v2: V2Switches): boolean {
  return (
    (v2.sessionContext || !level.sessionContext) &&
    (level.userAnonymisation || !v2.userAnonymisation) &&
    (level.serverAnonymisation || !v2.serverAnonymisation)
  );
}

function sameSwitches(a: V2Switches, b: V2Switches): boolean {
  return (
    a.sessionContext === b.sessionContext &&
    a.userAnonymisation === b.userAnonymisation &&
    a.serverAnonymisation === b.serverAnonymisation
  );
}

function exactNote(level: ConsentLevel, v2: V2Switches): string {
  return (
    `'${level}' reproduces sessionContext: ${v2.sessionContext}, userAnonymisation: ${v2.userAnonymisation}, ` +
    `serverAnonymisation: ${v2.serverAnonymisation} exactly.`
  );
}

/** Only reached for a level that sends less than v2, so the differences can only be additions of privacy. */
function approximateNote(level: ConsentLevel, v2: V2Switches): string {
  const chosen = switchesOf(level);
  const differences: string[] = [];
  if (chosen.userAnonymisation && !v2.userAnonymisation) {
    const obstacle = v2.sessionContext ? 'together with SP-Anonymous: *' : 'without the session entity';
    differences.push(`anonymises the user identifiers v2 sent client-side (no level sends them ${obstacle})`);
  }
  if (chosen.serverAnonymisation && !v2.serverAnonymisation) {
    differences.push('adds SP-Anonymous: *, which v2 did not send');
  }
  // The seed page's level 2 alone: the one v2 setup a documented policy option reproduces.
  const unsafeOption =
    level === 'session-only' && v2.sessionContext && v2.userAnonymisation && !v2.serverAnonymisation
      ? '; definePolicy({ unsafeSessionOnlyWithoutServerAnonymisation: true }) reproduces it exactly'
      : '';
  return `'${level}' is the most permissive level that sends no more than this v2 configuration, but it ${differences.join(' and ')}${unsafeOption}.`;
}
