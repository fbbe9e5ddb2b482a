/**
 * The repair buttons of one saga, each shown only when the role may repair (GET /auth/me) and
 * the saga's state lets it apply (the engine still decides: a refusal is shown with its reason).
 * Every button opens the action dialog (dialog.ts) with a sentence naming what will happen.
 */
import { call, enc } from '../api.js';
import { h } from '../dom.js';
import { openActionDialog, type ExtraField } from '../dialog.js';
import type { DefinitionVersion, PendingTimer, RepairResult, Saga, StepState } from '../views.js';

export interface RepairHooks {
  /** After a change: reload the page, showing what was done. */
  done(message: string): void;
}

const TERMINAL = new Set(['COMPLETED', 'COMPENSATED', 'RESOLVED_MANUALLY']);

function button(label: string, id: string, onclick: () => void): HTMLButtonElement {
  return h('button', { type: 'button', class: 'repair', 'data-action': id, onclick }, label);
}

function post(saga: Saga, action: string, body: Record<string, unknown>, key: string) {
  return call<RepairResult>('POST', `/sagas/${enc(saga.id)}/${action}`, { body, headers: { 'Idempotency-Key': key } }).then((r) => r.body);
}

function open(saga: Saga, hooks: RepairHooks, action: string, title: string, happens: string, confirmLabel: string, body: Record<string, unknown> = {}, extra?: ExtraField[]) {
  openActionDialog({
    title,
    happens,
    confirmLabel,
    extra,
    run: (reason, values, key) => {
      const extraValues = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
      return post(saga, action, { ...body, ...extraValues, reason }, key);
    },
    done: (result) => {
      const r = result as Partial<RepairResult>;
      hooks.done(r.done ? `Done: ${r.done}.` : `${title}: done.`);
    },
  });
}

/** The buttons that act on the whole saga. */
export function sagaRepairs(saga: Saga, definition: DefinitionVersion | null, hooks: RepairHooks): HTMLButtonElement[] {
  const buttons: HTMLButtonElement[] = [];
  if (saga.status === 'RUNNING') {
    buttons.push(
      button('Cancel saga', 'cancel', () =>
        open(
          saga,
          hooks,
          'cancel',
          'Cancel this saga',
          'The saga will stop going forward: the step in flight is left to answer or time out, then every step that succeeded is undone, in reverse order. A saga past its pivot cannot be cancelled (the API will say so).',
          'Cancel the saga',
        ),
      ),
    );
  }
  if (saga.status === 'COMPENSATION_FAILED') {
    const failed = saga.steps.find((s) => s.status === 'COMPENSATION_FAILED');
    if (failed) {
      const budget = definition?.policies.find((p) => p.step === failed.name)?.compensationRetry.maxAttempts;
      buttons.push(
        button('Retry compensation', 'retry-compensation', () =>
          open(
            saga,
            hooks,
            'retry-compensation',
            'Retry the failed compensation',
            `The undo of step "${failed.name}" will be sent again now (attempt ${failed.compensationAttempt + 1}), with a fresh budget of ${budget ?? 'its policy’s'} attempts; when it succeeds the rollback goes on with the earlier steps, in reverse order.`,
            'Retry the undo',
          ),
        ),
      );
    }
  }
  if (!TERMINAL.has(saga.status)) {
    buttons.push(
      button('Resolve by hand', 'resolve', () =>
        open(
          saga,
          hooks,
          'resolve',
          'Resolve this saga by hand',
          `The saga will be closed as RESOLVED_MANUALLY now (it is ${saga.status}): nothing more is sent to any participant and its timers are dropped${saga.currentStep ? `; step "${saga.currentStep}", in flight, is marked as settled by hand` : ''}. Nothing is undone or redone: do that outside first.`,
          'Resolve the saga',
          {},
          [
            {
              name: 'outcome',
              label: 'Business outcome (recorded only)',
              options: [
                { value: '', label: 'not stated' },
                { value: 'COMPLETED', label: 'COMPLETED' },
                { value: 'COMPENSATED', label: 'COMPENSATED' },
              ],
            },
          ],
        ),
      ),
    );
  }
  return buttons;
}

/** The buttons that act on one step (skip its failed undo, retry it now past the pivot). */
export function stepRepairs(saga: Saga, step: StepState, definition: DefinitionVersion | null, hooks: RepairHooks): HTMLButtonElement[] {
  const buttons: HTMLButtonElement[] = [];
  const undoFailed = saga.status === 'COMPENSATION_FAILED' && step.status === 'COMPENSATION_FAILED';
  const undoWaiting = saga.status === 'COMPENSATING' && step.status === 'COMPENSATING' && step.waitingForRetry;
  if (undoFailed || undoWaiting) {
    buttons.push(
      button(`Skip undo of ${step.name}`, 'skip-compensation', () =>
        open(
          saga,
          hooks,
          'skip-compensation',
          `Skip the undo of "${step.name}"`,
          `The undo of step "${step.name}" will be marked as done by hand: nothing is sent to its participant. The rollback then goes on with the earlier steps, in reverse order. Make sure it was undone some other way.`,
          'Mark the undo done',
          { step: step.name },
        ),
      ),
    );
  }
  const steps = definition?.definition.steps ?? [];
  const pivot = steps.findIndex((s) => s.pivot);
  const index = steps.findIndex((s) => s.name === step.name);
  const pastPivot = pivot >= 0 && saga.steps[pivot]?.status === 'SUCCEEDED' && index > pivot;
  if (saga.status === 'RUNNING' && pastPivot && saga.currentStep === step.name && step.status === 'RUNNING' && step.waitingForRetry) {
    buttons.push(
      button(`Retry ${step.name} now`, 'retry-step', () =>
        open(
          saga,
          hooks,
          'retry-step',
          `Retry step "${step.name}" now`,
          `Attempt ${step.attempt + 1} of step "${step.name}" will be sent now instead of waiting out its backoff, and the backoff starts over.`,
          'Send it now',
          { step: step.name },
        ),
      ),
    );
  }
  return buttons;
}

/** Fire a pending retry or timeout timer now. */
export function timerRepair(saga: Saga, timer: PendingTimer, hooks: RepairHooks): HTMLButtonElement | null {
  const { type, step, direction, attempt } = timer.event;
  if (type !== 'RETRY_DUE' && type !== 'ATTEMPT_TIMED_OUT') return null;
  const happens =
    type === 'RETRY_DUE'
      ? `The retry of step "${step}" (${direction}, attempt ${attempt}) will be sent now instead of at ${new Date(timer.fireAt).toLocaleString()}.`
      : `Attempt ${attempt} of step "${step}" (${direction}) will be taken as timed out now, without waiting until ${new Date(timer.fireAt).toLocaleString()}: its retry policy decides what follows.`;
  return button('Fire now', 'fire-timer', () => open(saga, hooks, 'fire-timer', `Fire the ${type} timer now`, happens, 'Fire the timer', { timerId: timer.id }));
}
