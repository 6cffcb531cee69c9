import type { PlatformContextRetriever } from '@snowplow/react-native-tracker';
import type { Enforcement } from '../enforce/create-enforcement.js';
import type { ConsentLevel } from '../../machines/levels.js';

/** The retriever functions that return advertising and app-set identifiers. */
const AD_ID_GETTERS = ['getAppleIdfa', 'getAppleIdfv', 'getAndroidIdfa', 'getAppSetId', 'getAppSetIdScope'] as const;

/**
 * Wraps a `platformContextRetriever` so that the advertising identifiers (IDFA, IDFV, AAID,
 * app set id and scope) are only asked for at a level whose policy allows them (`full` by
 * default: the level in force, or the one `deviceLevel` says is being applied); below it they
 * read as absent. The tracker caches what the retriever returns, so the
 * adapter refreshes the platform context after each change, and the enforcement plugin removes
 * cached ids from events in the meantime.
 *
 * @example
 * ```ts
 * import { createConsentAwareRetriever } from 'consent-tracker/react-native';
 * import { createEnforcement } from 'consent-tracker';
 * const enforcement = createEnforcement({ level: () => 'none' });
 * const retriever = createConsentAwareRetriever({ getAppleIdfa: async () => 'IDFA' }, enforcement);
 * await retriever.getAppleIdfa?.(); // undefined at none
 * ```
 */
export function createConsentAwareRetriever(
  retriever: PlatformContextRetriever,
  enforcement: Pick<Enforcement, 'level' | 'policy'>,
  deviceLevel: () => ConsentLevel = enforcement.level,
): PlatformContextRetriever {
  const wrapped: PlatformContextRetriever = { ...retriever };
  for (const name of AD_ID_GETTERS) {
    const getter = retriever[name];
    if (typeof getter !== 'function') continue;
    wrapped[name] = async () => (enforcement.policy[deviceLevel()].adIdentifiers ? getter.call(retriever) : undefined);
  }
  return wrapped;
}
