/**
 * Hash routes: every view is a link that can be shared, its filter in the URL
 * (`#/sagas?status=COMPENSATED&businessKey=c-1`, `#/sagas/<id>`, `#/dead-letters?state=parked`,
 * `#/definitions/place-order?from=1&to=2`). Back and forward work, as every change of view or
 * filter is a new history entry.
 */
export interface Route {
  /** Path segments after `#/`, decoded: `['sagas', '<id>']`. */
  path: string[];
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?', 2);
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

/** `#/a/b?x=1` from segments and params (empty params left out). */
export function href(path: string[], params?: URLSearchParams | Record<string, string | undefined>): string {
  const search =
    params instanceof URLSearchParams ? params : new URLSearchParams(Object.entries(params ?? {}).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  const query = search.toString();
  return `#/${path.map(encodeURIComponent).join('/')}${query ? `?${query}` : ''}`;
}

export function go(target: string): void {
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = target;
}
