/**
 * Act on every saga the list's filter matches (operators and admins): the same filter as the
 * list, through POST /sagas/bulk/{action}. A dry run first says how many match and shows the
 * first ones; acting goes through the reason dialog, which names the action, the count and the
 * cap; the answer says how many were done, refused (with the engine's reasons) or failed.
 */
import { call, queryString } from '../api.js';
import { openActionDialog } from '../dialog.js';
import { fill, h, notice, shortId } from '../dom.js';
import { href } from '../router.js';
import type { BulkResult } from '../views.js';

const ACTIONS: Record<string, string> = {
  cancel: 'cancel (running sagas roll back)',
  'retry-compensation': 'retry compensation (COMPENSATION_FAILED sagas)',
  'retry-step': 'retry the step now (running sagas past their pivot, waiting for a retry)',
};

export function bulkActions(filter: URLSearchParams): HTMLElement {
  const query = new URLSearchParams(filter);
  query.delete('limit');
  query.delete('cursor');
  const action = h(
    'select',
    { id: 'bulk-action', name: 'action' },
    Object.entries(ACTIONS).map(([value, label]) => h('option', { value }, label)),
  );
  const max = h('input', { id: 'bulk-max', name: 'max', type: 'number', min: 1, max: 1000, value: 100, inputmode: 'numeric' });
  const result = h('div', { id: 'bulk-result', 'aria-live': 'polite' });
  const path = () => `/sagas/bulk/${action.value}${queryString(query)}`;
  const cap = () => Math.min(1000, Math.max(1, Number(max.value) || 100));

  const dryRun = async () => {
    fill(result, notice('info', 'Counting…'));
    try {
      const { body } = await call<BulkResult>('POST', path(), { body: { reason: 'dry run from the admin UI', dryRun: true, max: cap() } });
      fill(
        result,
        notice('info', `Dry run: ${body.matched}${body.more ? '+' : ''} saga(s) match this filter; nothing was changed.`),
        body.ids.length
          ? h(
              'p',
              null,
              'First ones: ',
              body.ids.map((id) => [h('a', { href: href(['sagas', id]), title: id }, shortId(id)), ' ']),
            )
          : null,
      );
    } catch (error) {
      fill(result, notice('error', error instanceof Error ? error.message : String(error)));
    }
  };

  const act = () =>
    openActionDialog({
      title: `Bulk: ${action.value}`,
      happens: `“${ACTIONS[action.value]}” will be applied to up to ${cap()} of the sagas this filter matches (${query.toString() || 'every saga'}), most recently changed first. Each saga records it in its audit with your name and reason; a saga whose state does not allow it is refused and left as it is.`,
      confirmLabel: 'Apply to all matching',
      run: async (reason, _values, key) => (await call<BulkResult>('POST', path(), { body: { reason, dryRun: false, max: cap() }, headers: { 'Idempotency-Key': key } })).body,
      done: (answer) => {
        const r = answer as BulkResult;
        fill(
          result,
          notice(
            r.failed.length ? 'error' : 'ok',
            `Done on ${r.done}, refused ${r.refused.length}, failed ${r.failed.length}${r.more ? '; more match: apply again for the rest' : ''}.`,
          ),
          r.refused.length || r.failed.length
            ? h(
                'ul',
                { id: 'bulk-refusals' },
                [...r.refused, ...r.failed].map((x) => h('li', null, h('a', { href: href(['sagas', x.id]) }, shortId(x.id)), `: ${x.reason}`)),
              )
            : null,
        );
      },
    });

  return h(
    'details',
    { class: 'bulk', id: 'bulk' },
    h('summary', null, 'Act on every saga this filter matches'),
    h('div', { class: 'filter-grid' }, h('p', null, h('label', { for: action.id }, 'Action'), action), h('p', null, h('label', { for: max.id }, 'At most this many sagas'), max)),
    h(
      'p',
      { class: 'buttons' },
      h('button', { type: 'button', id: 'bulk-dry-run', onclick: () => void dryRun() }, 'Count (dry run)'),
      h('button', { type: 'button', class: 'repair', 'data-action': 'bulk', onclick: act }, 'Apply…'),
    ),
    result,
  );
}
