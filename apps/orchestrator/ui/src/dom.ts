/**
 * The UI's only way to make DOM: h(tag, attrs, ...children).
 *
 * Guarantees: text always enters the page through text nodes (never innerHTML or any HTML
 * parser), so saga data, error messages or JSON from the API can never inject markup or script;
 * attribute values are set with setAttribute, and event handlers are functions, never strings.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type Listener = (event: Event) => void;
export type Attrs = Record<string, string | number | boolean | null | undefined | Listener>;

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child) append(parent, c);
    return;
  }
  parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (typeof value === 'function') element.addEventListener(key.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(key, '');
    else if (value !== false && value !== null && value !== undefined) element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

/** Replaces the content of `element` with `children`. */
export function fill(element: Element, ...children: Child[]): void {
  const fragment = document.createDocumentFragment();
  append(fragment, children);
  element.replaceChildren(fragment);
}

const clock = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' });

/** A time in the browser's zone, its ISO value in `datetime` and `title`. */
export function time(iso: string | null | undefined): Child {
  if (!iso) return '—';
  return h('time', { datetime: iso, title: iso }, clock.format(new Date(iso)));
}

/** "in 12 s", "3 min ago": how far `iso` is from now. */
export function relative(iso: string, now = Date.now()): string {
  const ms = new Date(iso).getTime() - now;
  const abs = Math.abs(ms);
  const text =
    abs < 60_000
      ? `${Math.round(abs / 1000)} s`
      : abs < 3_600_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 86_400_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} d`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}

/** A status as a badge: text first (never colour alone), the colour from its class. */
export function badge(status: string): HTMLElement {
  return h('span', { class: `badge badge-${status.toLowerCase().replace(/_/g, '-')}` }, status);
}

/** A fold holding `value` as indented JSON. */
export function jsonFold(summary: string, value: unknown, open = false): HTMLElement {
  return h('details', { class: 'json', open }, h('summary', null, summary), h('pre', null, JSON.stringify(value, null, 2) ?? 'undefined'));
}

/** A table in a container that scrolls sideways on a narrow screen, reachable by keyboard. */
export function scroller(label: string, table: HTMLTableElement): HTMLElement {
  return h('div', { class: 'table-scroll', role: 'region', 'aria-label': label, tabindex: 0 }, table);
}

export function table(caption: string | null, headers: string[], rows: Child[][], attrs: Attrs = {}): HTMLTableElement {
  return h(
    'table',
    attrs,
    caption ? h('caption', null, caption) : null,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((text) => h('th', { scope: 'col' }, text)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.length === 0
        ? h('tr', null, h('td', { colspan: headers.length, class: 'empty' }, 'Nothing here.'))
        : rows.map((cells) =>
            h(
              'tr',
              null,
              cells.map((cell) => h('td', null, cell)),
            ),
          ),
    ),
  );
}

/** A message for a screen reader and the eye; `role=alert` for errors. */
export function notice(kind: 'error' | 'info' | 'ok', ...children: Child[]): HTMLElement {
  return h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, children);
}

/** A random key (Idempotency-Key): works in insecure contexts too, where randomUUID is missing. */
export function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `ui-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}
