/**
 * SagaTrails: a trail is kept only while this process recorded every version of the saga, and
 * holds exactly the history and the timer rows those versions wrote.
 */
import type { Decision, HistoryEntry, SagaState } from '#saga/core';
import { SagaTrails } from './saga-trails';

const ID = '7b0c5a0e-0000-4000-8000-000000000001';

function state(status: SagaState['status'], current: number): SagaState {
  return { id: ID, name: 'probe', version: 1, status, input: {}, current, failure: null, pastPivot: false, createdAt: 1, updatedAt: 1 + current, steps: [] };
}

function entry(type: HistoryEntry['type']): HistoryEntry {
  return { type, failureType: null, at: 5, step: null, direction: null, attempt: null, reason: null, detail: null };
}

function decision(status: SagaState['status'], current: number, change: Partial<Pick<Decision, 'history' | 'timers' | 'cancelTimers'>> = {}): Decision {
  return { state: state(status, current), commands: [], timers: [], cancelTimers: [], history: [], ...change };
}

const timer = (id: string) => ({ id, fireAt: 100, event: { type: 'RETRY_DUE' as const, step: 'a', direction: 'action' as const, attempt: 2 } });
const START = { definitionFingerprint: 'f', businessKey: null };

describe('SagaTrails', () => {
  it('follows consecutive versions: state, history in commit order and the timer rows', () => {
    const trails = new SagaTrails(100);
    trails.begin(decision('RUNNING', 0, { history: [entry('SAGA_STARTED')], timers: [timer('t1')] }), START);
    trails.record(ID, decision('RUNNING', 1, { history: [entry('REPLY_RECEIVED')], cancelTimers: ['t1'], timers: [timer('t2')] }), 2);
    trails.record(ID, decision('RUNNING', 1, { history: [entry('ATTEMPT_TIMED_OUT')], timers: [timer('t3')] }), 3, 't2');
    const trail = trails.peek(ID)!;
    expect(trail.version).toBe(3);
    expect(trail.state.current).toBe(1);
    expect(trail.history.map((item) => item.type)).toEqual(['SAGA_STARTED', 'REPLY_RECEIVED', 'ATTEMPT_TIMED_OUT']);
    expect([...trail.timers]).toEqual(['t3']);
    expect(trail.start).toBe(START);
  });

  it('drops a trail at the first commit that shows a version it did not see', () => {
    const trails = new SagaTrails(100);
    trails.begin(decision('RUNNING', 0), START);
    trails.record(ID, decision('RUNNING', 1), 2);
    trails.record(ID, decision('COMPLETED', 1), 4); // version 3 was written elsewhere (a duplicate's entry, another replica)
    expect(trails.peek(ID)).toBeUndefined();
    trails.record(ID, decision('COMPLETED', 1), 5);
    expect(trails.peek(ID)).toBeUndefined();
    expect(trails.size).toBe(0);
  });

  it('drops a trail whose decision cancels and sets one timer id, or whose history outgrows the bound', () => {
    const clash = new SagaTrails(100);
    clash.begin(decision('RUNNING', 0, { timers: [timer('t1')] }), START);
    clash.record(ID, decision('RUNNING', 0, { cancelTimers: ['t1'], timers: [timer('t1')] }), 2);
    expect(clash.peek(ID)).toBeUndefined();

    const bounded = new SagaTrails(2);
    bounded.begin(decision('RUNNING', 0, { history: [entry('SAGA_STARTED'), entry('COMMAND_SENT')] }), START);
    expect(bounded.peek(ID)?.history).toHaveLength(2);
    bounded.record(ID, decision('COMPLETED', 1, { history: [entry('SAGA_COMPLETED')] }), 2);
    expect(bounded.peek(ID)).toBeUndefined();
  });

  it('ignores commits of sagas without a trail, and end() forgets one', () => {
    const trails = new SagaTrails(100);
    trails.record(ID, decision('RUNNING', 1), 2);
    expect(trails.size).toBe(0);
    trails.begin(decision('RUNNING', 0), START);
    trails.end(ID);
    trails.end(ID);
    expect(trails.peek(ID)).toBeUndefined();
  });
});
