/**
 * Definitions: every name with its versions (short fingerprint, source, who registered it and
 * when), a step diagram of one version, the diff of two versions (from/to in the URL), and for
 * admins a form to register a version by pasting JSON: a JSON syntax error is shown with its
 * position before anything is sent, the API's 400 errors are listed by path, and 201 (stored),
 * 200 (already registered, same content) or 409 (other content under that version) is said.
 */
import { ApiError, call, enc, get } from '../api.js';
import { fill, h, notice, scroller, table, time, type Child } from '../dom.js';
import type { PageContext } from '../page.js';
import { go, href } from '../router.js';
import type { DefinitionDiff, DefinitionSummary, DefinitionVersion, JsonChange, StoredVersion } from '../views.js';

const short = (fingerprint: string) => h('code', { title: fingerprint }, fingerprint.slice(0, 12));

export async function definitionsPage(context: PageContext): Promise<void> {
  const name = context.route.path[1];
  if (name) return definitionPage(context, name);
  document.title = 'Definitions · Saga admin';
  const all = await get<DefinitionSummary[]>('/definitions');
  if (!context.current()) return;
  fill(
    context.main,
    h('h1', null, 'Definitions'),
    scroller(
      'Definition versions',
      table(
        null,
        ['Name', 'Version', 'Steps', 'Fingerprint', 'Source', 'Registered by', 'Registered at'],
        all.map((d) => [
          h('a', { href: href(['definitions', d.name], { version: String(d.version) }) }, d.name),
          String(d.version),
          String(d.steps.length),
          short(d.fingerprint),
          d.source,
          d.registeredBy ?? '—',
          time(d.registeredAt),
        ]),
        { id: 'definitions-table' },
      ),
    ),
    context.me.may.registerDefinitions ? registerForm() : null,
  );
}

async function definitionPage(context: PageContext, name: string): Promise<void> {
  document.title = `${name} · Definitions · Saga admin`;
  const { main, route } = context;
  const versions = await get<DefinitionSummary[]>(`/definitions/${enc(name)}/versions`);
  const latest = versions[versions.length - 1]?.version ?? 1;
  const shown = Number(route.params.get('version') ?? latest);
  const from = route.params.get('from');
  const to = route.params.get('to');
  const [version, diff] = await Promise.all([
    get<DefinitionVersion>(`/definitions/${enc(name)}/versions/${shown}`),
    from && to ? get<DefinitionDiff>(`/definitions/${enc(name)}/diff?from=${enc(from)}&to=${enc(to)}`).catch((e: unknown) => e) : Promise.resolve(null),
  ]);
  if (!context.current()) return;
  const select = (id: string, label: string, value: string | null) =>
    h(
      'p',
      null,
      h('label', { for: id }, label),
      h(
        'select',
        { id, name: id },
        versions.map((v) => h('option', { value: String(v.version), selected: String(v.version) === (value ?? '') }, `v${v.version}`)),
      ),
    );
  const diffForm = h(
    'form',
    {
      class: 'filters',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(diffForm);
        go(href(['definitions', name], { version: String(shown), from: String(data.get('diff-from')), to: String(data.get('diff-to')) }));
      },
    },
    h('div', { class: 'filter-grid' }, select('diff-from', 'From version', from ?? String(versions[0]?.version ?? '')), select('diff-to', 'To version', to ?? String(latest))),
    h('p', { class: 'buttons' }, h('button', { type: 'submit' }, 'Compare')),
  );
  fill(
    main,
    h('h1', null, `Definition ${name}`),
    h('p', null, h('a', { href: href(['definitions']) }, 'All definitions'), ' · ', h('a', { href: href(['sagas'], { name }) }, `Sagas of ${name}`)),
    scroller(
      'Versions',
      table(
        'Versions',
        ['Version', 'Fingerprint', 'Source', 'Registered by', 'Registered at', 'Steps'],
        versions.map((v) => [
          h('a', { href: href(['definitions', name], { version: String(v.version) }), 'aria-current': v.version === shown ? 'true' : null }, `v${v.version}`),
          short(v.fingerprint),
          v.source,
          v.registeredBy ?? '—',
          time(v.registeredAt),
          v.steps.join(' → '),
        ]),
        { id: 'versions-table' },
      ),
    ),
    h('section', { 'aria-labelledby': 'diagram-title' }, h('h2', { id: 'diagram-title' }, `Steps of v${shown}`), stepDiagram(version)),
    h('section', { 'aria-labelledby': 'diff-title' }, h('h2', { id: 'diff-title' }, 'Compare two versions'), diffForm, diff ? diffView(diff) : null),
  );
}

export function stepDiagram(version: DefinitionVersion, current: string | null = null): HTMLElement {
  const routes = new Map(version.routes.map((r) => [r.step, r]));
  return h(
    'ol',
    { class: 'diagram', id: 'step-diagram' },
    version.definition.steps.map((s) => {
      const r = routes.get(s.name);
      return h(
        'li',
        { class: `diagram-step${s.pivot ? ' pivot' : ''}${s.name === current ? ' current' : ''}` },
        h('strong', null, s.name),
        s.pivot ? h('span', { class: 'tag tag-pivot' }, 'PIVOT') : null,
        h('span', { class: 'cmd' }, 'do: ', h('code', null, s.action.command), r ? ` → ${r.action.queue}` : ''),
        h('span', { class: 'cmd' }, 'undo: ', s.compensation ? h('code', null, s.compensation.command) : 'none'),
      );
    }),
  );
}

function changeRows(changes: JsonChange[], prefix = ''): Child[][] {
  const json = (v: unknown) => (v === undefined ? '' : h('code', null, JSON.stringify(v)));
  return changes.map((c) => [prefix + c.path, c.kind, json(c.from), json(c.to)]);
}

function diffView(diff: DefinitionDiff | unknown): HTMLElement {
  if (!diff || typeof diff !== 'object' || !('steps' in diff)) return notice('error', diff instanceof Error ? diff.message : 'The diff could not be read.');
  const d = diff as DefinitionDiff;
  if (d.identical) return notice('info', `v${d.from.version} and v${d.to.version} are identical.`);
  const rows = [
    ...d.steps.added.map((s): Child[] => [`steps: ${s.name}`, `added at ${s.position + 1}`, '', '']),
    ...d.steps.removed.map((s): Child[] => [`steps: ${s.name}`, `removed from ${s.position + 1}`, '', '']),
    ...d.steps.changed.flatMap((s) => [
      ...(s.fromPosition !== s.toPosition ? [[`steps: ${s.name}`, 'moved', String(s.fromPosition + 1), String(s.toPosition + 1)] as Child[]] : []),
      ...changeRows(s.changes, `steps: ${s.name}.`),
    ]),
    ...changeRows(d.fields),
  ];
  return h(
    'div',
    { id: 'diff' },
    h('p', null, `v${d.from.version} (${d.from.unfinishedSagas} unfinished sagas) → v${d.to.version} (${d.to.unfinishedSagas} unfinished sagas)`),
    scroller('Differences', table(null, ['Path', 'Change', 'From', 'To'], rows, { id: 'diff-table' })),
  );
}

/** Where a JSON.parse error points, as line and column (engines say "position N" or "line L column C"). */
function jsonErrorPosition(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const match = /position (\d+)/.exec(message);
  if (!match) return message;
  const position = Number(match[1]);
  const before = text.slice(0, position).split('\n');
  return `${message} (line ${before.length}, column ${before[before.length - 1].length + 1})`;
}

function registerForm(): HTMLElement {
  const area = h('textarea', { id: 'definition-json', name: 'definition', rows: 14, spellcheck: 'false', required: true, 'aria-describedby': 'definition-help' });
  const result = h('div', { id: 'register-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    { id: 'register-form', onsubmit: (event: Event) => void submit(event) },
    h('p', null, h('label', { for: area.id }, 'Definition JSON (the same as a *.saga.json file)'), area),
    h('p', { id: 'definition-help', class: 'help' }, 'A name@version never changes: the same content again is accepted as is; other content needs a new version.'),
    h('p', { class: 'buttons' }, h('button', { type: 'submit' }, 'Register')),
    result,
  );
  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    let body: unknown;
    try {
      body = JSON.parse(area.value);
    } catch (error) {
      fill(result, notice('error', `Not JSON: ${jsonErrorPosition(area.value, error)}`));
      area.setAttribute('aria-invalid', 'true');
      return;
    }
    area.removeAttribute('aria-invalid');
    fill(result, notice('info', 'Sending…'));
    try {
      const { status, body: stored } = await call<StoredVersion>('POST', '/definitions', { body });
      fill(
        result,
        notice(
          'ok',
          status === 201 ? `Registered ${stored.name} v${stored.version} (201).` : `${stored.name} v${stored.version} was already registered with exactly this content (200).`,
          ' ',
          h('a', { href: href(['definitions', stored.name], { version: String(stored.version) }) }, 'See it'),
        ),
      );
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 400) {
        fill(
          result,
          notice('error', `Not a valid definition (400): ${String(error.body.message ?? '')}`),
          h(
            'ul',
            { id: 'register-errors' },
            (error.body.errors ?? []).map((e) => h('li', null, h('code', null, e.field), ': ', e.message)),
          ),
        );
      } else if (error.status === 409) {
        fill(result, notice('error', `Conflict (409): ${String(error.body.message ?? '')}`));
      } else {
        fill(result, notice('error', error.message));
      }
    }
  }
  return h('section', { 'aria-labelledby': 'register-title' }, h('h2', { id: 'register-title' }, 'Register a version'), form);
}
