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
    url.searchParams.delete('_sp');
    const deviceUserId = options.deviceUserId();
    if (deviceUserId !== undefined && options.shouldDecorate(link)) url.searchParams.set('_sp', `${deviceUserId}.${Date.now()}`);
    link.href = url.toString();
  };
  document.addEventListener('click', onNavigate, true);
  document.addEventListener('mousedown', onNavigate, true);
  return () => {
    document.removeEventListener('click', onNavigate, true);
    document.removeEventListener('mousedown', onNavigate, true);
  };
}
