/**
 * Find sagas: a form with every filter of GET /sagas; submitting puts the filter in the URL
 * (a link that can be shared), the list is drawn from the URL. Keyset paging with the API's
 * cursor ("Next page", "First page"); a 400 shows each field's error next to that field.
 * Operators also get the bulk actions on the same filter (bulk-actions.ts).
 */
import { ApiError, get, queryString } from '../api.js';
import { badge, fill, h, notice, scroller, shortId, table, time } from '../dom.js';
import type { PageContext } from '../page.js';
import { go, href } from '../router.js';
import type { SagaPage, SagaStatus } from '../views.js';
import { bulkActions } from './bulk-actions.js';

const STATUSES: SagaStatus[] = ['RUNNING', 'COMPENSATING', 'COMPENSATION_FAILED', 'COMPLETED', 'COMPENSATED', 'RESOLVED_MANUALLY'];
const TEXT_FILTERS = [
  ['name', 'Definition name'],
  ['version', 'Version'],
  ['businessKey', 'Business key'],
  ['step', 'Current step'],
] as const;
const TIME_FILTERS = [
  ['createdFrom', 'Created from'],
  ['createdTo', 'Created before'],
  ['updatedFrom', 'Updated from'],
  ['updatedTo', 'Updated before'],
] as const;

/** An ISO time as the value of a datetime-local input (the browser's zone). */
function toLocalInput(iso: string | null): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

const errorSlot = (field: string) => h('span', { class: 'field-error', id: `err-${field}`, 'aria-live': 'polite' });

export async function sagaListPage(context: PageContext): Promise<void> {
  document.title = 'Sagas · Saga admin';
  const { main, route } = context;
  const params = route.params;
  const statuses = new Set((params.getAll('status').join(',') || '').split(',').filter(Boolean));

  const statusBoxes = STATUSES.map((status) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'status', value: status, checked: statuses.has(status), 'aria-describedby': 'err-status' }), ` ${status}`),
  );
  const fields = [
    ...TEXT_FILTERS.map(([name, label]) =>
      h(
        'p',
        null,
        h('label', { for: `f-${name}` }, label),
        h('input', { id: `f-${name}`, name, value: params.get(name) ?? '', inputmode: name === 'version' ? 'numeric' : null, 'aria-describedby': `err-${name}` }),
        errorSlot(name),
      ),
    ),
    ...TIME_FILTERS.map(([name, label]) =>
      h(
        'p',
        null,
        h('label', { for: `f-${name}` }, label),
        h('input', { id: `f-${name}`, name, type: 'datetime-local', step: 1, value: toLocalInput(params.get(name)), 'aria-describedby': `err-${name}` }),
        errorSlot(name),
      ),
    ),
    h(
      'p',
      null,
      h('label', { for: 'f-hasExceptions' }, 'Exceptions'),
      h(
        'select',
        { id: 'f-hasExceptions', name: 'hasExceptions' },
        [
          ['', 'any'],
          ['true', 'with exceptions'],
          ['false', 'without'],
        ].map(([value, label]) => h('option', { value, selected: (params.get('hasExceptions') ?? '') === value }, label)),
      ),
      errorSlot('hasExceptions'),
    ),
    h(
      'p',
      null,
      h(
        'label',
        { class: 'check' },
        h('input', { type: 'checkbox', id: 'f-definitionMissing', name: 'definitionMissing', value: 'true', checked: params.get('definitionMissing') === 'true' }),
        ' Definition version missing',
      ),
      errorSlot('definitionMissing'),
    ),
    h(
      'p',
      null,
      h('label', { for: 'f-limit' }, 'Per page'),
      h(
        'select',
        { id: 'f-limit', name: 'limit' },
        ['20', '50', '100'].map((n) => h('option', { value: n, selected: (params.get('limit') ?? '20') === n }, n)),
      ),
    ),
  ];
  const form = h(
    'form',
    { class: 'filters', id: 'saga-filters', onsubmit: (event: Event) => (event.preventDefault(), go(href(['sagas'], formParams(form)))) },
    h('fieldset', null, h('legend', null, 'Status'), h('div', { class: 'checks' }, statusBoxes), errorSlot('status')),
    h('div', { class: 'filter-grid' }, fields),
    h('p', { class: 'buttons' }, h('button', { type: 'submit' }, 'Find'), ' ', h('a', { href: href(['sagas']) }, 'Clear filters')),
  );
  const results = h('div', { id: 'saga-results' }, h('p', { role: 'status' }, 'Loading…'));
  fill(main, h('h1', null, 'Sagas'), form, context.me.may.repair ? bulkActions(params) : null, results);

  const query = new URLSearchParams(params);
  if (!query.has('limit')) query.set('limit', '20');
  try {
    const page = await get<SagaPage>(`/sagas${queryString(query)}`);
    if (!context.current()) return;
    const rows = page.items.map((s) => [
      h('a', { href: href(['sagas', s.id]), title: s.id }, shortId(s.id)),
      `${s.name} v${s.version}`,
      badge(s.status),
      s.businessKey ?? '—',
      s.currentStep ? `${s.currentStep}${s.attempt ? ` · attempt ${s.attempt}` : ''}${s.compensationAttempt ? ` · undo ${s.compensationAttempt}` : ''}` : '—',
      s.hasExceptions ? 'yes' : 'no',
      time(s.updatedAt),
    ]);
    const nextParams = new URLSearchParams(params);
    if (page.next) nextParams.set('cursor', page.next);
    const firstParams = new URLSearchParams(params);
    firstParams.delete('cursor');
    fill(
      results,
      h('p', { role: 'status' }, `${page.items.length} saga(s) on this page${params.has('cursor') ? ' (not the first page)' : ''}, most recently changed first.`),
      scroller('Sagas found', table(null, ['Saga', 'Definition', 'Status', 'Business key', 'Current step', 'Exceptions', 'Updated'], rows, { id: 'saga-table' })),
      h(
        'nav',
        { 'aria-label': 'Pages', class: 'pager' },
        params.has('cursor') ? h('a', { href: href(['sagas'], firstParams), id: 'first-page' }, 'First page') : null,
        ' ',
        page.next ? h('a', { href: href(['sagas'], nextParams), id: 'next-page', rel: 'next' }, 'Next page') : null,
      ),
    );
  } catch (error) {
    if (!context.current()) return;
    if (error instanceof ApiError && error.status === 400) {
      for (const fieldError of error.body.errors ?? []) {
        const slot = main.querySelector(`#err-${CSS.escape(fieldError.field)}`);
        if (slot) slot.textContent = fieldError.message;
        main.querySelector(`#f-${CSS.escape(fieldError.field)}`)?.setAttribute('aria-invalid', 'true');
      }
      fill(results, notice('error', 'The filter is not valid: ', (error.body.errors ?? []).map((e) => `${e.field}: ${e.message}`).join('; ') || error.message));
      return;
    }
    throw error;
  }
}

/** The filter in the form, as URL parameters (times converted to ISO with the zone). */
function formParams(form: HTMLFormElement): URLSearchParams {
  const data = new FormData(form);
  const out = new URLSearchParams();
  const statuses = data.getAll('status').map(String);
  if (statuses.length > 0) out.set('status', statuses.join(','));
  for (const [name] of TEXT_FILTERS) {
    const value = String(data.get(name) ?? '').trim();
    if (value) out.set(name, value);
  }
  for (const [name] of TIME_FILTERS) {
    const value = String(data.get(name) ?? '');
    if (value) {
      const date = new Date(value);
      out.set(name, Number.isNaN(date.getTime()) ? value : date.toISOString());
    }
  }
  const hasExceptions = String(data.get('hasExceptions') ?? '');
  if (hasExceptions) out.set('hasExceptions', hasExceptions);
  if (data.get('definitionMissing')) out.set('definitionMissing', 'true');
  const limit = String(data.get('limit') ?? '20');
  if (limit !== '20') out.set('limit', limit);
  return out;
}
