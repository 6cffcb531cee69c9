import { ConsentError, assertConsentLevel, describe } from './consent-error.js';
import { CONSENT_LEVELS, type ConsentLevel } from '../machines/levels.js';
import type { TrackerConfiguration } from '../machines/tracker-configuration.js';

export type { TrackerConfiguration } from '../machines/tracker-configuration.js';

/**
 * What happens to the session: the `client_session` entity and the browser's `sid`/`vid`.
 *
 * @example
 * ```ts
 * import { levelPolicy, type SessionRule } from 'consent-tracker';
 * const rule: SessionRule = levelPolicy('session-only').session; // 'anonymous'
 * ```
 */
export type SessionRule = 'as-is' | 'anonymous' | 'removed';

/**
 * What happens to identifiers the tracker keeps on the device (session key, cookies, ids).
 *
 * @example
 * ```ts
 * import { levelPolicy, type DeviceStorageRule } from 'consent-tracker';
 * const rule: DeviceStorageRule = levelPolicy('none').deviceStorage; // 'never-store'
 * ```
 */
export type DeviceStorageRule = 'keep' | 'clear-on-entry' | 'never-store';

/**
 * The identifier policy of one consent level: DESIGN.md's table as data.
 *
 * @example
 * ```ts
 * import { levelPolicy } from 'consent-tracker';
 * const policy = levelPolicy('session-only');
 * policy.session; // 'anonymous'
 * policy.serverAnonymisation; // true
 * ```
 */
export interface LevelPolicy {
  /** The level this policy describes. */
  readonly level: ConsentLevel;
  /** Whether events are sent at all (`false` only at `off`, unless made stricter). */
  readonly send: boolean;
  /** Whether `uid`, `duid`, `nuid`, `tnuid` and `ip` may be sent in the payload. */
  readonly userIdentifiers: boolean;
  /** Whether requests carry `SP-Anonymous: *` and omit cookies (`credentials: 'omit'`). */
  readonly serverAnonymisation: boolean;
  /** The `client_session` entity and browser `sid`/`vid`: as tracked, anonymised, or removed. */
  readonly session: SessionRule;
  /** Whether `mobile_context` may carry `appleIdfa`, `appleIdfv`, `androidIdfa`, `appSetId`, `appSetIdScope`. */
  readonly adIdentifiers: boolean;
  /** Whether screen ids are reset when a downgrade enters this level (until the next screen view; the enforcement plugin does it). */
  readonly resetViewsOnDowngrade: boolean;
  /**
   * Whether views may link events: a screen view's `previousId`/`previousName`/`previousType`,
   * and the screen entity on later events. `false` at `none` and `off` (a chain of views is a
   * session by another name); at `session-only` the chain lives within one anonymous session.
   */
  readonly chainViews: boolean;
  /** What adapters do with identifiers stored on the device when this level is entered. */
  readonly deviceStorage: DeviceStorageRule;
  /** Further top-level payload fields removed at this level (for example `ua`). Stricter only. */
  readonly removeFields: readonly string[];
  /**
   * Schema patterns of context entities removed at this level (a prefix such as
   * `iglu:com.acme/user/`, or with `*`: `iglu:com.acme/user/jsonschema/1-*-*`).
   */
  readonly removeEntities: readonly string[];
  /**
   * Identifiers inside the app's own entities and self-describing events, by schema pattern:
   * each field is removed, or replaced with the null UUID. A rule given for a level applies to
   * every level below it too.
   */
  readonly entityFields: readonly EntityFieldRule[];
}

/**
 * One {@link LevelPolicy} per level, as built by {@link definePolicy}.
 *
 * @example
 * ```ts
 * import { definePolicy, type PolicyTable } from 'consent-tracker';
 * const table: PolicyTable = definePolicy();
 * table.none.session; // 'removed'
 * ```
 */
export type PolicyTable = Readonly<Record<ConsentLevel, LevelPolicy>>;

/**
 * What to do with one field of the app's own entities and self-describing events whose schema
 * matches `schema` (a prefix, or a pattern with `*`).
 *
 * @example
 * ```ts
 * import type { EntityFieldRule } from 'consent-tracker';
 * const rule: EntityFieldRule = { schema: 'iglu:com.acme/user/jsonschema/1-*-*', field: 'customerId', action: 'remove' };
 * ```
 */
export interface EntityFieldRule {
  readonly schema: string;
  readonly field: string;
  readonly action: 'remove' | 'null-uuid';
}

/**
 * The rules of a level that an integrator may override; every override must be stricter.
 *
 * @example
 * ```ts
 * import { definePolicy, type LevelPolicyOverride } from 'consent-tracker';
 * const noUserAgent: LevelPolicyOverride = { removeFields: ['ua'] };
 * definePolicy({ overrides: { none: noUserAgent } });
 * ```
 */
export type LevelPolicyOverride = Partial<Omit<LevelPolicy, 'level'>>;

/**
 * Options that change the default policy. Overrides may only make a level stricter; the one way
 * to weaken a level is the explicitly named `unsafeSessionOnlyWithoutServerAnonymisation`.
 *
 * @example
 * ```ts
 * import { definePolicy } from 'consent-tracker';
 * // Stricter: no ad ids even at full, and no user agent below full.
 * definePolicy({
 *   overrides: {
 *     full: { adIdentifiers: false },
 *     'session-only': { removeFields: ['ua'] },
 *     none: { removeFields: ['ua'] },
 *   },
 * });
 * ```
 */
export interface PolicyOptions {
  /** Per-level changes; each must be at least as strict as the default, or a `POLICY_WEAKENED` error is thrown. */
  readonly overrides?: { readonly [L in ConsentLevel]?: LevelPolicyOverride };
  /**
   * Weakens `session-only`: requests no longer carry `SP-Anonymous: *` and keep cookies, so the
   * collector records the `sp` cookie as `network_userid` and the IP address. This is the seed
   * page's level 2 alone. Only set it if your pipeline anonymises those fields another way.
   */
  readonly unsafeSessionOnlyWithoutServerAnonymisation?: boolean;
}


const ANONYMOUS_BASE = {
  userIdentifiers: false,
  serverAnonymisation: true,
  adIdentifiers: false,
  resetViewsOnDowngrade: true,
  chainViews: false,
  removeFields: [],
  removeEntities: [],
  entityFields: [],
} as const;

const DEFAULT_TABLE: Record<ConsentLevel, LevelPolicy> = {
  full: {
    level: 'full',
    send: true,
    userIdentifiers: true,
    serverAnonymisation: false,
    session: 'as-is',
    adIdentifiers: true,
    resetViewsOnDowngrade: false,
    chainViews: true,
    deviceStorage: 'keep',
    removeFields: [],
    removeEntities: [],
    entityFields: [],
  },
  'session-only': { level: 'session-only', send: true, session: 'anonymous', deviceStorage: 'clear-on-entry', ...ANONYMOUS_BASE, chainViews: true },
  none: { level: 'none', send: true, session: 'removed', deviceStorage: 'never-store', ...ANONYMOUS_BASE },
  off: { level: 'off', send: false, session: 'removed', deviceStorage: 'never-store', ...ANONYMOUS_BASE },
};

/** For each rule, a rank where a higher number sends more; overrides must not raise it. */
const RULE_RANK = {
  send: (v: boolean) => (v ? 1 : 0),
  userIdentifiers: (v: boolean) => (v ? 1 : 0),
  adIdentifiers: (v: boolean) => (v ? 1 : 0),
  serverAnonymisation: (v: boolean) => (v ? 0 : 1),
  resetViewsOnDowngrade: (v: boolean) => (v ? 0 : 1),
  chainViews: (v: boolean) => (v ? 1 : 0),
  session: (v: SessionRule) => ({ removed: 0, anonymous: 1, 'as-is': 2 })[v],
  deviceStorage: (v: DeviceStorageRule) => ({ 'never-store': 0, 'clear-on-entry': 1, keep: 2 })[v],
} as const;

const ALLOWED_VALUES: Record<string, readonly unknown[]> = {
  session: ['as-is', 'anonymous', 'removed'],
  deviceStorage: ['keep', 'clear-on-entry', 'never-store'],
};

/** Fields the enforcement points need to do their job; removing them is refused. */
const PROTECTED_FIELDS = new Set(['e', 'eid', 'tv', 'p', 'dtm', 'stm', 'co', 'cx', 'ue_pr', 'ue_px']);

/** Checks entity field rules given in an override; they can only add what is removed. */
function entityFieldRules(value: unknown, where: string): EntityFieldRule[] {
  const valid = (rule: unknown): rule is EntityFieldRule => {
    const { schema, field, action } = (rule ?? {}) as Record<string, unknown>;
    return typeof schema === 'string' && schema.startsWith('iglu:') && typeof field === 'string' && field !== '' && (action === 'remove' || action === 'null-uuid');
  };
  if (!Array.isArray(value) || !value.every(valid)) {
    throw new ConsentError('INVALID_OPTION', `${where} must be an array of { schema: 'iglu:…', field, action: 'remove' | 'null-uuid' }`);
  }
  return value.map(({ schema, field, action }) => ({ schema, field, action }));
}

function freezePolicy(policy: LevelPolicy): LevelPolicy {
  Object.freeze(policy.removeFields);
  Object.freeze(policy.removeEntities);
  for (const rule of policy.entityFields) Object.freeze(rule);
  Object.freeze(policy.entityFields);
  return Object.freeze(policy);
}

function applyOverride(base: LevelPolicy, override: unknown): LevelPolicy {
  if (typeof override !== 'object' || override === null || Array.isArray(override)) {
    throw new ConsentError('INVALID_OPTION', `a policy override for '${base.level}' must be an object; got ${describe(override)}`);
  }
  const next: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const where = `overrides['${base.level}'].${key}`;
    if (key === 'entityFields') {
      next[key] = [...base.entityFields, ...entityFieldRules(value, where)];
      continue;
    }
    if (key === 'removeFields' || key === 'removeEntities') {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0)) {
        throw new ConsentError('INVALID_OPTION', `${where} must be an array of non-empty strings`);
      }
      const protectedField = key === 'removeFields' ? value.find((v: string) => PROTECTED_FIELDS.has(v)) : undefined;
      if (protectedField !== undefined) {
        throw new ConsentError('INVALID_OPTION', `${where} may not remove '${protectedField}': the enforcement points need it`);
      }
      next[key] = [...new Set([...(base[key] as readonly string[]), ...(value as string[])])];
      continue;
    }
    if (!Object.prototype.hasOwnProperty.call(RULE_RANK, key)) {
      throw new ConsentError('INVALID_OPTION', `${where} is not a policy rule`);
    }
    const rank = RULE_RANK[key as keyof typeof RULE_RANK] as (v: never) => number;
    const allowed = ALLOWED_VALUES[key];
    if (allowed ? !allowed.includes(value) : typeof value !== 'boolean') {
      throw new ConsentError('INVALID_OPTION', `${where} has an invalid value ${describe(value)}`);
    }
    if (rank(value as never) > rank(base[key as keyof LevelPolicy] as never)) {
      throw new ConsentError(
        'POLICY_WEAKENED',
        `${where} = ${describe(value)} would send more than the default '${base.level}' level allows; overrides may only make a level stricter`,
      );
    }
    next[key] = value;
  }
  return next as unknown as LevelPolicy;
}

/**
 * Builds the policy table, validating every override. Build it once and pass the table around:
 * {@link sanitizeEvent} and the enforcement points take it as is.
 *
 * @throws {@link ConsentError} `INVALID_LEVEL`, `INVALID_OPTION` or `POLICY_WEAKENED`.
 *
 * @example
 * ```ts
 * import { definePolicy } from 'consent-tracker';
 * const table = definePolicy({ overrides: { full: { adIdentifiers: false } } });
 * table.full.adIdentifiers; // false
 * ```
 */
export function definePolicy(options: PolicyOptions = {}): PolicyTable {
  if (typeof options !== 'object' || options === null) {
    throw new ConsentError('INVALID_OPTION', `policy options must be an object; got ${describe(options)}`);
  }
  const unknown = Object.keys(options).find((key) => key !== 'overrides' && key !== 'unsafeSessionOnlyWithoutServerAnonymisation');
  if (unknown !== undefined) throw new ConsentError('INVALID_OPTION', `'${unknown}' is not a policy option`);
  const { overrides = {}, unsafeSessionOnlyWithoutServerAnonymisation = false } = options;
  if (typeof unsafeSessionOnlyWithoutServerAnonymisation !== 'boolean') {
    throw new ConsentError('INVALID_OPTION', 'unsafeSessionOnlyWithoutServerAnonymisation must be a boolean');
  }
  for (const key of Object.keys(overrides)) assertConsentLevel(key, 'a policy override key');
  const table = {} as Record<ConsentLevel, LevelPolicy>;
  for (const level of CONSENT_LEVELS) {
    let base: LevelPolicy = DEFAULT_TABLE[level];
    if (level === 'session-only' && unsafeSessionOnlyWithoutServerAnonymisation) {
      base = { ...base, serverAnonymisation: false };
    }
    const override = overrides[level];
    table[level] = override === undefined ? { ...base } : applyOverride(base, override);
  }
  // A rule for the app's own entities holds at every level below the one it was given for too.
  for (const [i, level] of CONSENT_LEVELS.entries()) {
    const above = CONSENT_LEVELS.slice(i + 1).flatMap((higher) => table[higher].entityFields);
    table[level] = freezePolicy({ ...table[level], entityFields: [...table[level].entityFields, ...above] });
  }
  const frozen = Object.freeze(table);
  builtTables.add(frozen);
  return frozen;
}

/** Tables that `definePolicy` built, and so validated: only these are taken as they are. */
const builtTables = new WeakSet<object>();

/** A validated table: the one given if `definePolicy` built it, else one built from the options. */
export function resolvePolicy(policy: PolicyOptions | PolicyTable | undefined): PolicyTable {
  if (policy === undefined) return DEFAULT_POLICY;
  return builtTables.has(policy) ? (policy as PolicyTable) : definePolicy(policy as PolicyOptions);
}

/**
 * The default policy table (DESIGN.md section 2), frozen.
 *
 * @example
 * ```ts
 * import { DEFAULT_POLICY } from 'consent-tracker';
 * DEFAULT_POLICY.full.userIdentifiers; // true
 * DEFAULT_POLICY.none.userIdentifiers; // false
 * ```
 */
export const DEFAULT_POLICY: PolicyTable = definePolicy();

/**
 * The identifier policy of one level: what it sends, what it removes, what it does to the session.
 *
 * @param policy - options for {@link definePolicy}, or a table it built; the default table if absent.
 * @throws {@link ConsentError} `INVALID_LEVEL` for an unknown level, or what {@link definePolicy} throws.
 *
 * @example
 * ```ts
 * import { levelPolicy } from 'consent-tracker';
 * levelPolicy('none').session; // 'removed'
 * levelPolicy('off').send; // false
 * ```
 */
export function levelPolicy(level: ConsentLevel, policy?: PolicyOptions | PolicyTable): LevelPolicy {
  assertConsentLevel(level, 'level');
  return resolvePolicy(policy)[level];
}

/**
 * What a level means in the React Native tracker v2 options the seed page documents:
 * `sessionContext`, `userAnonymisation` and `serverAnonymisation`. `off` reads as `none`, and
 * sends nothing at all (see {@link LevelPolicy.send}).
 *
 * @example
 * ```ts
 * import { toTrackerConfiguration } from 'consent-tracker';
 * toTrackerConfiguration('session-only');
 * // { trackerConfig: { sessionContext: true, userAnonymisation: true },
 * //   emitterConfig: { serverAnonymisation: true } }
 * ```
 */
export function toTrackerConfiguration(level: ConsentLevel, policy?: PolicyOptions | PolicyTable): TrackerConfiguration {
  const rules = levelPolicy(level, policy);
  return {
    trackerConfig: {
      sessionContext: rules.session !== 'removed',
      userAnonymisation: !rules.userIdentifiers,
    },
    emitterConfig: { serverAnonymisation: rules.serverAnonymisation },
  };
}

