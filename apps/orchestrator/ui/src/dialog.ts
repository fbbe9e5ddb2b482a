/**
 * The dialog every change goes through (repairs, cancel, dead-letter replay and discard): a
 * native modal <dialog> that says exactly what will happen, asks for a reason (required, kept
 * in the audit with the token's name), and has Confirm and Cancel.
 *
 * Guarantees: nothing is sent until Confirm; one Idempotency-Key per dialog, so a double click
 * or a retry after a lost answer does the action once; a refusal (409 with the API's reason,
 * 400 field errors) is shown in the dialog, which stays open; on success the dialog closes and
 * `done` runs (the page reloads, so the audit entry shows). Escape or Cancel sends nothing.
 */
import { ApiError } from './api.js';
import { fill, h, notice, randomKey, type Child } from './dom.js';

export interface ExtraField {
  name: string;
  label: string;
  options: { value: string; label: string }[];
}

export interface ActionDialog {
  title: string;
  /** What will happen, in words: "The undo of step "b" will be sent again now …". */
  happens: Child;
  confirmLabel: string;
  extra?: ExtraField[];
  /** Sends the request; throws ApiError when refused. */
  run: (reason: string, values: Record<string, string>, idempotencyKey: string) => Promise<unknown>;
  done: (result: unknown) => void;
}

let counter = 0;

export function openActionDialog(spec: ActionDialog): HTMLDialogElement {
  const id = `dlg-${++counter}`;
  const key = randomKey();
  const errors = h('div', { class: 'dialog-errors' });
  const reason = h('textarea', { id: `${id}-reason`, name: 'reason', required: true, maxlength: 500, rows: 3, 'aria-describedby': `${id}-reason-help` });
  const extras = (spec.extra ?? []).map((field) => ({
    field,
    select: h(
      'select',
      { id: `${id}-${field.name}`, name: field.name },
      field.options.map((o) => h('option', { value: o.value }, o.label)),
    ),
  }));
  const confirm = h('button', { type: 'submit', class: 'danger' }, spec.confirmLabel);
  const cancel = h('button', { type: 'button', value: 'cancel' }, 'Cancel');
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { id: `${id}-title` }, spec.title),
    h('p', { class: 'happens', id: `${id}-happens` }, spec.happens),
    extras.map(({ field, select }) => h('p', null, h('label', { for: select.id }, field.label), select)),
    h('p', null, h('label', { for: reason.id }, 'Reason (required)'), reason, h('span', { id: `${id}-reason-help`, class: 'help' }, 'Recorded in the audit with your name.')),
    errors,
    h('p', { class: 'buttons' }, confirm, cancel),
  );
  const dialog = h('dialog', { 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-happens`, class: 'action-dialog' }, form);
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  cancel.addEventListener('click', close);
  dialog.addEventListener('cancel', () => dialog.remove());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (text === '') {
      fill(errors, notice('error', 'Give a reason: it is kept in the audit.'));
      reason.focus();
      return;
    }
    confirm.disabled = true;
    fill(errors, notice('info', 'Sending…'));
    try {
      const values = Object.fromEntries(extras.map(({ field, select }) => [field.name, select.value]));
      const result = await spec.run(text, values, key);
      close();
      spec.done(result);
    } catch (error) {
      const message = error instanceof ApiError ? refusal(error) : String(error);
      fill(errors, notice('error', message));
      confirm.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  reason.focus();
  return dialog;
}

function refusal(error: ApiError): Child {
  const { status, body } = error;
  if (status === 409) return `Refused (409): ${body.reason ?? body.message ?? ''}`;
  if (status === 400 && body.errors?.length) return ['Not valid (400): ', body.errors.map((e) => `${e.field}: ${e.message}`).join('; ')];
  if (status === 403) return `Your role may not do this (403): ${String(body.message ?? '')}`;
  return error.message;
}
