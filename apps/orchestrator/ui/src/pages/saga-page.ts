/**
 * One saga: its state, the definition as a step list (pivot marked, current step highlighted,
 * compensation command shown), the timeline (timeline.ts), pending timers with their due time,
 * the audit (who did what and why), repair buttons for roles that may (saga-repairs.ts), and
 * folds for the input, each step's request and result, and the raw history with "load older".
 */
import { ApiError, enc, get } from '../api.js';
import { badge, fill, h, jsonFold, notice, relative, scroller, table, time, type Child } from '../dom.js';
import type { PageContext } from '../page.js';
import { go, href } from '../router.js';
import type { DefinitionVersion, HistoryEntry, HistoryPage, Saga } from '../views.js';
import { sagaRepairs, stepRepairs, timerRepair, type RepairHooks } from './saga-repairs.js';
import { timeline } from './timeline.js';

const AUDIT_TYPES = new Set([
  'OPERATOR_ACTION',
  'OPERATOR_ACTION_REJECTED',
  'CANCEL_REQUESTED',
  'CANCEL_REJECTED',
  'DEAD_LETTER_REPLAYED',
  'DEAD_LETTER_REPLAY_FAILED',
  'DEAD_LETTER_DISCARDED',
]);

/** What the last change on this page did, shown once after the reload. */
let lastDone: string | null = null;

export async function sagaPage(context: PageContext): Promise<void> {
  const { main, route, me } = context;
  const id = route.path[1];
  document.title = `Saga ${id.slice(0, 8)} · Saga admin`;
  let saga: Saga;
  try {
    saga = await get<Saga>(`/sagas/${enc(id)}`);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
      fill(main, h('h1', null, 'No such saga'), notice('error', error.message));
      return;
    }
    throw error;
  }
  const definition = await get<DefinitionVersion>(`/definitions/${enc(saga.definition.name)}/versions/${saga.definition.version}`).catch(() => null);
  if (!context.current()) return;
  const hooks: RepairHooks = {
    done: (message) => {
      lastDone = message;
      go(location.hash);
    },
  };
  const mayRepair = me.may.repair;
  const done = lastDone;
  lastDone = null;
  const sagaButtons = mayRepair ? sagaRepairs(saga, definition, hooks) : [];

  fill(
    main,
    h('h1', null, `Saga ${saga.name} v${saga.version} `, badge(saga.status)),
    h(
      'p',
      { class: 'buttons' },
      h('button', { type: 'button', id: 'refresh', onclick: () => go(location.hash) }, 'Refresh'),
      h('span', { class: 'help' }, `as of ${new Date().toLocaleTimeString()}`),
    ),
    done ? notice('ok', done) : null,
    facts(saga),
    sagaButtons.length > 0
      ? h('section', { 'aria-labelledby': 'repairs-title', class: 'repairs' }, h('h2', { id: 'repairs-title' }, 'Repair'), h('p', { class: 'buttons' }, sagaButtons))
      : null,
    steps(saga, definition, mayRepair ? hooks : null),
    timeline(saga.history, definition?.definition.steps ?? null),
    timers(saga, mayRepair ? hooks : null),
    audit(saga.history),
    h('section', { 'aria-labelledby': 'data-title' }, h('h2', { id: 'data-title' }, 'Data'), jsonFold('Input', saga.input), rawHistory(saga)),
  );
}

function facts(saga: Saga): HTMLElement {
  const item = (term: string, value: Child) => [h('dt', null, term), h('dd', null, value)];
  return h(
    'dl',
    { class: 'facts' },
    item('Id', h('code', null, saga.id)),
    item('Business key', saga.businessKey ?? '—'),
    item('Definition', [
      h('a', { href: href(['definitions', saga.definition.name], { version: String(saga.definition.version) }) }, `${saga.definition.name} v${saga.definition.version}`),
      saga.definition.fingerprint ? h('span', { class: 'fingerprint', title: saga.definition.fingerprint }, ` ${saga.definition.fingerprint.slice(0, 12)}`) : null,
    ]),
    item('Current step', saga.currentStep ?? '—'),
    item('Created', time(saga.createdAt)),
    item('Updated', time(saga.updatedAt)),
    saga.failure ? item('Why it rolled back', `${saga.failure.step ?? '—'}: ${saga.failure.type} ${saga.failure.code}: ${saga.failure.message}`) : null,
  );
}

function steps(saga: Saga, definition: DefinitionVersion | null, hooks: RepairHooks | null): HTMLElement {
  const defs = definition?.definition.steps;
  const routes = new Map((definition?.routes ?? []).map((r) => [r.step, r]));
  return h(
    'section',
    { 'aria-labelledby': 'steps-title' },
    h('h2', { id: 'steps-title' }, 'Steps'),
    defs
      ? null
      : notice('error', `Definition ${saga.definition.name} v${saga.definition.version} is not loaded on this orchestrator: the steps are shown from the saga's state only.`),
    h(
      'ol',
      { class: 'steps', id: 'steps' },
      saga.steps.map((step, index) => {
        const def = defs?.[index];
        const current = saga.currentStep === step.name;
        const routeOf = routes.get(step.name);
        return h(
          'li',
          { class: `step${current ? ' current' : ''}${def?.pivot ? ' pivot' : ''}`, 'aria-current': current ? 'step' : null, 'data-step': step.name },
          h(
            'div',
            { class: 'step-head' },
            h('strong', null, step.name),
            ' ',
            badge(step.status),
            def?.pivot ? h('span', { class: 'tag tag-pivot' }, 'PIVOT: no rollback once it succeeds') : null,
            current ? h('span', { class: 'tag tag-current' }, 'CURRENT STEP') : null,
            step.manual ? h('span', { class: 'tag' }, 'SETTLED BY HAND') : null,
          ),
          h(
            'p',
            { class: 'commands' },
            'Action: ',
            h('code', null, def?.action.command ?? '?'),
            routeOf ? ` → ${routeOf.action.queue}` : '',
            ' · Undo: ',
            def?.compensation ? h('code', null, def.compensation.command) : 'none',
            routeOf?.compensation ? ` → ${routeOf.compensation.queue}` : '',
          ),
          h(
            'p',
            { class: 'attempts' },
            `Attempts: ${step.attempt}`,
            step.compensationAttempt ? ` · undo attempts: ${step.compensationAttempt}` : '',
            step.waitingForRetry ? ' · waiting for its retry' : '',
            step.lastError ? ` · last error ${step.lastError.code}: ${step.lastError.message}` : '',
          ),
          hooks ? h('p', { class: 'buttons' }, stepRepairs(saga, step, definition, hooks)) : null,
          step.request !== null && step.request !== undefined ? jsonFold(`Request of ${step.name}`, step.request) : null,
          step.result !== null && step.result !== undefined ? jsonFold(`Result of ${step.name}`, step.result) : null,
        );
      }),
    ),
  );
}

function timers(saga: Saga, hooks: RepairHooks | null): HTMLElement {
  return h(
    'section',
    { 'aria-labelledby': 'timers-title' },
    h('h2', { id: 'timers-title' }, 'Pending timers'),
    scroller(
      'Pending timers',
      table(
        null,
        ['What', 'Step', 'Due', 'When', ...(hooks ? ['Action'] : [])],
        saga.timers.map((t) => [
          t.event.type,
          t.event.step ? `${t.event.step} (${t.event.direction ?? ''} ${t.event.attempt ?? ''})` : '—',
          time(t.fireAt),
          relative(t.fireAt),
          ...(hooks ? [timerRepair(saga, t, hooks)] : []),
        ]),
        { id: 'timers' },
      ),
    ),
  );
}

function audit(history: HistoryEntry[]): HTMLElement {
  const entries = history.filter((e) => AUDIT_TYPES.has(e.type));
  const str = (value: unknown) => (value === undefined || value === null ? '' : String(value));
  return h(
    'section',
    { 'aria-labelledby': 'audit-title' },
    h('h2', { id: 'audit-title' }, 'Audit'),
    scroller(
      'Audit',
      table(
        null,
        ['When', 'Who', 'Action', 'Step', 'Why', 'Result'],
        entries.map((e) => {
          const d = e.detail ?? {};
          const refused = e.type.endsWith('REJECTED') || e.type.endsWith('FAILED');
          const action = e.type === 'OPERATOR_ACTION' ? e.reason : str(d.action) || e.type;
          const why = e.type.startsWith('CANCEL') ? (e.type === 'CANCEL_REQUESTED' ? e.reason : str(d.requested)) : str(d.reason);
          return [
            time(e.at),
            str(d.by),
            action ?? e.type,
            e.step ?? '—',
            why ?? '',
            `${refused ? 'REFUSED' : 'APPLIED'}${d.message ? `: ${str(d.message)}` : refused && e.reason ? `: ${e.reason}` : ''}`,
          ];
        }),
        { id: 'audit' },
      ),
    ),
  );
}

function historyRow(e: HistoryEntry): Child[] {
  return [
    time(e.at),
    e.type,
    e.step ?? '',
    e.direction ?? '',
    e.attempt === null ? '' : String(e.attempt),
    e.failureType ?? '',
    e.reason ?? '',
    e.detail ? JSON.stringify(e.detail) : '',
  ];
}

function rawHistory(saga: Saga): HTMLElement {
  const body = h(
    'tbody',
    null,
    saga.history.map((e) =>
      h(
        'tr',
        null,
        historyRow(e).map((c) => h('td', null, c)),
      ),
    ),
  );
  const status = h('p', { role: 'status' }, `${saga.history.length} of ${saga.historyTotal} entries, oldest first.`);
  let next = saga.historyNext;
  let shown = saga.history.length;
  const more = h('button', { type: 'button', id: 'load-older', hidden: !next }, 'Load older entries');
  more.addEventListener('click', async () => {
    if (!next) return;
    more.disabled = true;
    try {
      const page = await get<HistoryPage>(`/sagas/${enc(saga.id)}/history?before=${enc(next)}&limit=100`);
      body.prepend(
        ...page.entries.map((e) =>
          h(
            'tr',
            null,
            historyRow(e).map((c) => h('td', null, c)),
          ),
        ),
      );
      shown += page.entries.length;
      next = page.next;
      status.textContent = `${shown} of ${saga.historyTotal} entries, oldest first.`;
      more.hidden = !next;
    } finally {
      more.disabled = false;
    }
  });
  const headers = ['At', 'Type', 'Step', 'Direction', 'Attempt', 'Failure', 'Reason', 'Detail'];
  return h(
    'details',
    { class: 'json' },
    h('summary', null, `History (${saga.historyTotal} entries)`),
    status,
    more,
    scroller(
      'History',
      h(
        'table',
        { id: 'history' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            headers.map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        body,
      ),
    ),
  );
}
