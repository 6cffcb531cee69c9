/**
 * Decorates links for Snowplow's cross-domain linking (`_sp=<device user id>.<time>`) in place
 * of the browser tracker's own linker, which decides once per link and never undoes it: here
 * each click or mousedown decides, at the level in force then. Below `full` a link is never
 * decorated, and a decoration left from `full` is removed before the browser follows it.
 */
export function installLinkDecoration(options: {
  readonly shouldDecorate: (link: HTMLAnchorElement | HTMLAreaElement) => boolean;
  readonly deviceUserId: () => string | undefined;
}): () => void {
  if (typeof document === 'undefined') return () => undefined;
  const onNavigate = (event: Event) => {
    const link = (event.target as Element | null)?.closest?.('a[href], area[href]') as HTMLAnchorElement | HTMLAreaElement | null | undefined;
    if (!link) return;
    const url = new URL(link.href, document.baseURI);
    // The tracker's own linker (called on the raw tracker) may have decorated it: at full it gets
    // the identity in force instead, below full nothing.
    const decoratedElsewhere = url.searchParams.has('_sp');
    url.searchParams.delete('_sp');
    const deviceUserId = options.deviceUserId();
    if (deviceUserId !== undefined && (decoratedElsewhere || options.shouldDecorate(link))) url.searchParams.set('_sp', `${deviceUserId}.${Date.now()}`);
    if (link.href !== url.toString()) link.href = url.toString();
  };
  // Before the link's own handlers and after them (the tracker's linker sits on the link itself).
  for (const type of ['click', 'mousedown']) for (const capture of [true, false]) document.addEventListener(type, onNavigate, capture);
  return () => {
    for (const type of ['click', 'mousedown']) for (const capture of [true, false]) document.removeEventListener(type, onNavigate, capture);
  };
}
