/**
 * Overview: what needs a person first, refreshed every 5 s while the tab is visible.
 * Tiles (COMPENSATION_FAILED, sagas on a missing definition version, dead letters parked — only
 * for roles that may read them —, outbox backlog), the stuck sagas (COMPENSATION_FAILED, missing
 * version, running sagas retrying forward past N attempts), and the counts by status and by
 * definition. A role that may not read the fleet (client) gets a form to open one saga by id.
 *
 * Paging stays on the server: each list is one bounded page (fast on a million sagas).
 */
import { get } from '../api.js';
import { badge, fill, h, notice, scroller, shortId, table, time, type Child } from '../dom.js';
import type { PageContext } from '../page.js';
import { go, href } from '../router.js';
import type { DeadLetterCounts, Health, SagaCounts, SagaListItem, SagaPage } from '../views.js';

const POLL_MS = 5000;
const RETRYING_SAMPLE = 100;

export async function overviewPage(context: PageContext): Promise<void> {
  document.title = 'Overview · Saga admin';
  const { main, me } = context;
  if (!me.may.read) {
    fill(main, h('h1', null, 'Open a saga'), openById());
    return;
  }
  const threshold = h('input', { id: 'retry-threshold', type: 'number', min: 1, max: 1000, value: context.route.params.get('attempts') ?? '3', inputmode: 'numeric' });
  const updated = h('p', { class: 'updated', id: 'updated' });
  const body = h('div', { id: 'overview-body' });
  fill(
    main,
    h('h1', null, 'Overview'),
    updated,
    h('p', { class: 'controls' }, h('label', { for: threshold.id }, 'Stuck when retrying forward past this many attempts'), threshold),
    body,
  );

  let busy = false;
  const refresh = async () => {
    if (busy || !context.current()) return;
    busy = true;
    try {
      const n = Math.max(1, Number(threshold.value) || 3);
      const [counts, health, failed, missing, retrying, deadLetters] = await Promise.all([
        get<SagaCounts>('/sagas/counts'),
        get<Health>('/health').catch(() => null),
        get<SagaPage>('/sagas?status=COMPENSATION_FAILED&limit=20'),
        get<SagaPage>('/sagas?definitionMissing=true&limit=20'),
        get<SagaPage>(`/sagas?status=RUNNING&hasExceptions=true&limit=${RETRYING_SAMPLE}`),
        me.may.deadLetters ? get<DeadLetterCounts>('/dead-letters/counts') : Promise.resolve(null),
      ]);
      if (!context.current()) return;
      const retryingPast = retrying.items.filter((s) => (s.attempt ?? 0) > n);
      fill(body, tiles(counts, health, deadLetters, missing), stuck(failed, missing, retryingPast, n), countTables(counts));
      fill(updated, 'Updated ', h('time', { datetime: new Date().toISOString() }, new Date().toLocaleTimeString()), ' · refreshes every 5 s while this tab is visible');
    } catch (error) {
      if (context.current()) fill(updated, notice('error', `Refresh failed: ${error instanceof Error ? error.message : String(error)}`));
    } finally {
      busy = false;
    }
  };
  threshold.addEventListener('change', () => void refresh());
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') void refresh();
  }, POLL_MS);
  const onVisible = () => {
    if (document.visibilityState === 'visible') void refresh();
  };
  document.addEventListener('visibilitychange', onVisible);
  context.onLeave(() => {
    clearInterval(timer);
    document.removeEventListener('visibilitychange', onVisible);
  });
  await refresh();
}

function tile(label: string, value: number | string, link: string | null, alarm: boolean): HTMLElement {
  const content = [h('span', { class: 'tile-value' }, String(value)), h('span', { class: 'tile-label' }, label)];
  return h('li', { class: `tile${alarm ? ' tile-alarm' : ''}` }, link ? h('a', { href: link }, content) : content);
}

function tiles(counts: SagaCounts, health: Health | null, deadLetters: DeadLetterCounts | null, missing: SagaPage): HTMLElement {
  const failed = counts.byStatus.find((c) => c.status === 'COMPENSATION_FAILED')?.count ?? 0;
  const missingCount = health ? health.definitionsMissing.reduce((sum, m) => sum + m.sagas, 0) : missing.items.length;
  const parked = deadLetters?.byState.parked ?? 0;
  return h(
    'section',
    { 'aria-labelledby': 'tiles-title' },
    h('h2', { id: 'tiles-title', class: 'visually-hidden' }, 'At a glance'),
    h(
      'ul',
      { class: 'tiles' },
      tile('Compensation failed', failed, href(['sagas'], { status: 'COMPENSATION_FAILED' }), failed > 0),
      tile('On a missing definition version', missingCount, href(['sagas'], { definitionMissing: 'true' }), missingCount > 0),
      deadLetters ? tile('Dead letters parked', parked, href(['dead-letters'], { state: 'parked' }), parked > 0) : null,
      tile('Outbox backlog', health ? health.outboxBacklog : '?', null, (health?.outboxBacklog ?? 0) > 1000),
    ),
  );
}

function sagaRows(items: SagaListItem[]): Child[][] {
  return items.map((s) => [
    h('a', { href: href(['sagas', s.id]) }, shortId(s.id)),
    `${s.name} v${s.version}`,
    badge(s.status),
    s.businessKey ?? '—',
    s.currentStep ? `${s.currentStep}${s.attempt ? ` (attempt ${s.attempt})` : ''}` : '—',
    time(s.updatedAt),
  ]);
}

const SAGA_HEADERS = ['Saga', 'Definition', 'Status', 'Business key', 'Current step', 'Updated'];

function stuck(failed: SagaPage, missing: SagaPage, retrying: SagaListItem[], n: number): HTMLElement {
  return h(
    'section',
    { 'aria-labelledby': 'stuck-title' },
    h('h2', { id: 'stuck-title' }, 'Stuck first'),
    h('h3', null, 'COMPENSATION_FAILED ', h('a', { href: href(['sagas'], { status: 'COMPENSATION_FAILED' }) }, '(all)')),
    scroller('Sagas in COMPENSATION_FAILED', table(null, SAGA_HEADERS, sagaRows(failed.items), { id: 'stuck-failed' })),
    h('h3', null, 'Definition version missing ', h('a', { href: href(['sagas'], { definitionMissing: 'true' }) }, '(all)')),
    scroller('Sagas whose definition version is missing', table(null, SAGA_HEADERS, sagaRows(missing.items), { id: 'stuck-missing' })),
    h('h3', null, `Retrying forward past ${n} attempts`),
    h('p', { class: 'help' }, `Looks at the ${RETRYING_SAMPLE} most recently changed running sagas with exceptions.`),
    scroller(`Running sagas past ${n} attempts`, table(null, SAGA_HEADERS, sagaRows(retrying), { id: 'stuck-retrying' })),
  );
}

function countTables(counts: SagaCounts): HTMLElement {
  return h(
    'section',
    { 'aria-labelledby': 'counts-title' },
    h('h2', { id: 'counts-title' }, 'Counts'),
    scroller(
      'Sagas by status',
      table(
        'By status',
        ['Status', 'Sagas'],
        counts.byStatus.map((c) => [h('a', { href: href(['sagas'], { status: c.status }) }, badge(c.status)), `${c.exact ? '' : '≈ '}${c.count.toLocaleString()}`]),
        { id: 'counts-status' },
      ),
    ),
    scroller(
      'Sagas by definition',
      table(
        'By definition (exactly counted statuses)',
        ['Definition', 'Status', 'Sagas'],
        counts.byDefinition.map((c) => [
          h('a', { href: href(['sagas'], { name: c.name, version: String(c.version), status: c.status }) }, `${c.name} v${c.version}`),
          badge(c.status),
          c.count.toLocaleString(),
        ]),
      ),
    ),
  );
}

function openById(): HTMLElement {
  const input = h('input', { id: 'saga-id', name: 'id', required: true, pattern: '[0-9a-fA-F-]{36}', autocomplete: 'off' });
  return h(
    'form',
    { onsubmit: (event: Event) => (event.preventDefault(), go(href(['sagas', input.value.trim()]))) },
    h('p', null, h('label', { for: input.id }, 'Saga id'), input),
    h('p', null, h('button', { type: 'submit' }, 'Open')),
  );
}
