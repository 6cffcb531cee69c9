/** Where the browser tracker keeps the tab id, in the tab's session storage. */
const TAB_ID_KEY = '_sp_tab_id';

/** Beside it: the identity the tab id has been sent with. */
const TAB_IDENTITY_KEY = 'consent-tracker.tab-identity';

/**
 * Keeps the browser tracker's tab id with the identity it is sent with (`identity`: the device
 * user id in force, `own`, or `undefined` while it is not known): a tab id kept for another
 * identity is removed, and the tracker makes a new one. A withdrawal removes the tab id as it
 * happens; this covers a start that goes on with an older identity, because the withdrawal
 * since, and the identity it brought, never reached storage (docs/design.md, "The identity
 * across restarts"). The tab's session storage outlives the reload: it would else send the tab
 * id of the identity the user withdrew beside the older one, and link the two. Returns whether
 * this tab had recorded another identity: what the tracker stored meanwhile belongs to it too.
 */
export function keepTabIdWith(identity: string | undefined): boolean {
  if (typeof sessionStorage === 'undefined') return false;
  try {
    const recorded = sessionStorage.getItem(TAB_IDENTITY_KEY);
    if (identity !== undefined && recorded === identity) return false;
    sessionStorage.removeItem(TAB_ID_KEY);
    // Not known yet (the start stopped waiting for the stored identity): no identity is recorded,
    // so the next time full is applied the tab id is removed again.
    if (identity === undefined) sessionStorage.removeItem(TAB_IDENTITY_KEY);
    else sessionStorage.setItem(TAB_IDENTITY_KEY, identity);
    return recorded !== null;
  } catch {
    // Session storage refused: an identity left recorded could match a tab id kept for another.
    forgetTabId();
    return false;
  }
}

/**
 * Removes the tab id and the identity recorded beside it (at a withdrawal: the identity is a
 * device user id, which is not kept below `full`).
 */
export function forgetTabId(): void {
  if (typeof sessionStorage === 'undefined') return;
  try {
    sessionStorage.removeItem(TAB_ID_KEY);
    sessionStorage.removeItem(TAB_IDENTITY_KEY);
  } catch {
    // Session storage refused: there is nothing it could keep either.
  }
}
