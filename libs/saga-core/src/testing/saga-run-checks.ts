/**
 * The end-of-run invariants of a simulated saga (see saga-simulator.ts), docs/semantics.md S2–S4:
 * - it ends terminal; never COMPENSATION_FAILED when every compensation eventually succeeds;
 * - the compensations sent, deduplicated by step, are exactly the steps whose action was applied
 *   or possibly applied (fate success, timeout, cancel), in reverse order of their actions, each
 *   block contiguous and confirmed once (a prefix of them when a compensation failed for good);
 * - nothing is compensated once the pivot succeeded; a completed saga compensated nothing;
 * - every message id is a function of (saga, step, direction) only; correlation ids parse back.
 */
import assert from 'node:assert/strict';
import { isTerminal, type SagaStatus } from '../engine/saga-state';
import { commandMessageId, parseCorrelationId } from '../protocol/message-ids';
import type { SagaSimulator } from './saga-simulator';

export interface RunSummary {
  status: SagaStatus;
  compensated: string[];
  cancelAccepted: boolean;
  pivotDone: boolean;
  possiblyApplied: number;
}

function indexOf(sim: SagaSimulator, step: string): number {
  const index = sim.definition.steps.findIndex((s) => s.name === step);
  assert.ok(index >= 0, `unknown step ${step}`);
  return index;
}

export function checkFinalRun(sim: SagaSimulator): RunSummary {
  const { status } = sim.state;
  assert.ok(isTerminal(status), `the saga must end terminal, got ${status}`);
  if (sim.compensationsSucceed) assert.notEqual(status, 'COMPENSATION_FAILED');
  const undoSteps = sim.sent.filter((c) => c.direction === 'compensation').map((c) => indexOf(sim, c.step));
  undoSteps.forEach((index, i) => assert.ok(i === 0 || index <= undoSteps[i - 1], 'compensations run in reverse order, one step at a time'));
  const compensated = [...new Set(undoSteps)].map((index) => sim.definition.steps[index].name);
  const expected = sim.fate
    .map((fate, index) => (fate === 'success' || fate === 'timeout' || fate === 'cancel' ? index : -1))
    .filter((index) => index >= 0)
    .reverse()
    .map((index) => sim.definition.steps[index].name);
  if (status === 'COMPLETED') {
    assert.deepEqual(compensated, [], 'a completed saga compensates nothing');
    assert.ok(sim.fate.every((fate) => fate === 'success'));
  } else {
    assert.equal(sim.pivotDone, false, 'nothing is compensated after the pivot succeeded');
    for (const name of expected) assert.ok(sim.definition.steps[indexOf(sim, name)].compensation, `${name} may have been applied but has no undo`);
    if (status === 'COMPENSATED') assert.deepEqual(compensated, expected, 'exactly the applied or possibly applied steps are compensated');
    else {
      assert.ok(compensated.length > 0, 'COMPENSATION_FAILED needs a compensation that failed');
      assert.deepEqual(compensated, expected.slice(0, compensated.length), 'compensations stop at the one that failed');
    }
    for (const name of compensated) {
      const last: boolean = status === 'COMPENSATION_FAILED' && name === compensated.at(-1);
      assert.equal(sim.confirmedUndo.get(name) ?? 0, last ? 0 : 1, `${name} is compensated once`);
      assert.equal(sim.state.steps[indexOf(sim, name)].status, last ? 'COMPENSATION_FAILED' : 'COMPENSATED');
    }
  }
  if (sim.pivotDone) assert.equal(status, 'COMPLETED');
  const ids = new Map<string, string>();
  for (const command of sim.sent) {
    const key = `${command.step}|${command.direction}`;
    assert.equal(ids.get(key) ?? command.messageId, command.messageId, 'the same message id on every attempt');
    ids.set(key, command.messageId);
    assert.equal(command.messageId, commandMessageId({ sagaId: sim.sagaId, step: command.step, direction: command.direction }));
    assert.deepEqual(parseCorrelationId(command.correlationId), { sagaId: sim.sagaId, step: command.step, direction: command.direction, attempt: command.attempt });
  }
  assert.equal(new Set(ids.values()).size, ids.size, 'distinct commands have distinct ids');
  const possiblyApplied = sim.fate.filter((fate) => fate === 'timeout' || fate === 'cancel').length;
  return { status, compensated, cancelAccepted: sim.cancelAccepted, pivotDone: sim.pivotDone, possiblyApplied };
}
