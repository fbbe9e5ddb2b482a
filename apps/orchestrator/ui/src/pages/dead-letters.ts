/**
 * Dead letters (operators and admins): a list filtered by state and source queue (in the URL),
 * keyset paging, and one dead letter with its headers, body and audit, with Replay and Discard
 * through the action dialog.
 */
import { ApiError, call, enc, get, queryString } from '../api.js';
import { badge, fill, h, jsonFold, notice, scroller, shortId, table, time } from '../dom.js';
import { openActionDialog } from '../dialog.js';
import type { PageContext } from '../page.js';
import { go, href } from '../router.js';
import type { DeadLetter, DeadLetterPage } from '../views.js';

const STATES = ['parked', 'replayed', 'discarded'];

function age(seconds: number): string {
  return seconds < 120
    ? `${seconds} s`
    : seconds < 7200
      ? `${Math.round(seconds / 60)} min`
      : seconds < 172_800
        ? `${Math.round(seconds / 3600)} h`
        : `${Math.round(seconds / 86_400)} d`;
}

function forbidden(context: PageContext): boolean {
  if (context.me.may.deadLetters) return false;
  fill(context.main, h('h1', null, 'Dead letters'), notice('info', `The ${context.me.role} role may not read dead letters (operators and admins may).`));
  return true;
}

export async function deadLettersPage(context: PageContext): Promise<void> {
  document.title = 'Dead letters · Saga admin';
  if (forbidden(context)) return;
  const { main, route } = context;
  const params = route.params;
  const state = h(
    'select',
    { id: 'dl-state', name: 'state' },
    h('option', { value: '' }, 'any'),
    STATES.map((s) => h('option', { value: s, selected: params.get('state') === s }, s)),
  );
  const source = h('input', { id: 'dl-source', name: 'sourceQueue', value: params.get('sourceQueue') ?? '' });
  const form = h(
    'form',
    {
      class: 'filters',
      onsubmit: (event: Event) => {
        event.preventDefault();
        go(href(['dead-letters'], { state: state.value, sourceQueue: source.value.trim() }));
      },
    },
    h('div', { class: 'filter-grid' }, h('p', null, h('label', { for: state.id }, 'State'), state), h('p', null, h('label', { for: source.id }, 'Source queue'), source)),
    h('p', { class: 'buttons' }, h('button', { type: 'submit' }, 'Filter')),
  );
  const results = h('div', null, h('p', { role: 'status' }, 'Loading…'));
  fill(main, h('h1', null, 'Dead letters'), form, results);
  const query = new URLSearchParams(params);
  if (!query.has('limit')) query.set('limit', '50');
  const page = await get<DeadLetterPage>(`/dead-letters${queryString(query)}`);
  if (!context.current()) return;
  const nextParams = new URLSearchParams(params);
  if (page.next) nextParams.set('cursor', page.next);
  const firstParams = new URLSearchParams(params);
  firstParams.delete('cursor');
  fill(
    results,
    scroller(
      'Dead letters',
      table(
        null,
        ['Id', 'State', 'Reason', 'Source queue', 'Saga', 'Step', 'Age'],
        page.items.map((d) => [
          h('a', { href: href(['dead-letters', String(d.id)]) }, `#${d.id}`),
          badge(d.state),
          d.reason ?? '—',
          d.sourceQueue ?? '—',
          d.sagaId && d.links.saga ? h('a', { href: href(['sagas', d.sagaId]), title: d.sagaId }, shortId(d.sagaId)) : (d.sagaId ?? '—'),
          d.step ? `${d.step} (${d.direction ?? ''} ${d.attempt ?? ''})` : '—',
          h('span', { title: d.deadLetteredAt }, age(d.ageSeconds)),
        ]),
        { id: 'dead-letter-table' },
      ),
    ),
    h(
      'nav',
      { 'aria-label': 'Pages', class: 'pager' },
      params.has('cursor') ? h('a', { href: href(['dead-letters'], firstParams) }, 'First page') : null,
      ' ',
      page.next ? h('a', { href: href(['dead-letters'], nextParams), rel: 'next' }, 'Next page') : null,
    ),
  );
}

export async function deadLetterPage(context: PageContext): Promise<void> {
  if (forbidden(context)) return;
  const { main, route } = context;
  const id = route.path[1];
  document.title = `Dead letter #${id} · Saga admin`;
  let letter: DeadLetter;
  try {
    letter = await get<DeadLetter>(`/dead-letters/${enc(id)}`);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
      fill(main, h('h1', null, 'No such dead letter'), notice('error', error.message));
      return;
    }
    throw error;
  }
  if (!context.current()) return;
  const act = (action: 'replay' | 'discard') =>
    openActionDialog({
      title: action === 'replay' ? `Replay dead letter #${letter.id}` : `Discard dead letter #${letter.id}`,
      happens:
        action === 'replay'
          ? `The message will be published again to its source queue "${letter.sourceQueue ?? '?'}", as it was, marked as a replay; the dead letter becomes "replayed".`
          : 'The message will be marked as discarded: nothing is sent, it stays here for the record.',
      confirmLabel: action === 'replay' ? 'Replay it' : 'Discard it',
      run: (reason, _values, key) => call('POST', `/dead-letters/${enc(String(letter.id))}/${action}`, { body: { reason }, headers: { 'Idempotency-Key': key } }),
      done: () => go(location.hash),
    });
  const item = (term: string, value: Parameters<typeof h>[2]) => [h('dt', null, term), h('dd', null, value)];
  fill(
    main,
    h('h1', null, `Dead letter #${letter.id} `, badge(letter.state)),
    h(
      'dl',
      { class: 'facts' },
      item('Reason', letter.reason ?? '—'),
      item('Source queue', letter.sourceQueue ?? '—'),
      item('Kind', `${letter.kind}${letter.pattern ? ` (${letter.pattern})` : ''}`),
      item('Saga', letter.sagaId && letter.links.saga ? h('a', { href: href(['sagas', letter.sagaId]) }, letter.sagaId) : (letter.sagaId ?? '—')),
      item('Step', letter.step ? `${letter.step} (${letter.direction ?? ''} ${letter.attempt ?? ''})` : '—'),
      item('Dead-lettered', time(letter.deadLetteredAt)),
      item('Age', age(letter.ageSeconds)),
      letter.replayOf ? item('Replay of', h('a', { href: href(['dead-letters', String(letter.replayOf)]) }, `#${letter.replayOf}`)) : null,
      letter.resolvedBy ? item('Resolved', [letter.resolvedBy, ' ', time(letter.resolvedAt), ': ', letter.resolvedReason ?? '']) : null,
    ),
    letter.state === 'parked'
      ? h(
          'p',
          { class: 'buttons' },
          h('button', { type: 'button', class: 'repair', 'data-action': 'replay', onclick: () => act('replay') }, 'Replay'),
          ' ',
          h('button', { type: 'button', class: 'repair', 'data-action': 'discard', onclick: () => act('discard') }, 'Discard'),
        )
      : null,
    h(
      'section',
      { 'aria-labelledby': 'dl-audit' },
      h('h2', { id: 'dl-audit' }, 'Audit'),
      scroller(
        'Dead letter audit',
        table(
          null,
          ['When', 'Who', 'Action', 'Why', 'Outcome'],
          letter.actions.map((a) => [time(a.at), a.actor, a.action, a.reason, `${a.outcome}${a.detail ? `: ${a.detail}` : ''}`]),
          { id: 'dl-actions' },
        ),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'dl-message' },
      h('h2', { id: 'dl-message' }, 'Message'),
      jsonFold('Headers', letter.headers),
      jsonFold('Properties', letter.properties),
      jsonFold(`Body (${letter.bodyEncoding})`, letter.body),
    ),
  );
}
