/**
 * SagaStateCache on its own: all-or-nothing lookups, stored copies, finished sagas dropped, the
 * least recently written evicted first, and capacity 0 holding nothing.
 */
import type { SagaState, SagaStatus } from '#saga/core';
import { SagaStateCache } from './saga-state-cache';

const state = (id: string, status: SagaStatus = 'RUNNING'): SagaState => ({
  id,
  name: 'demo',
  version: 1,
  status,
  input: { a: 1 },
  steps: [
    {
      name: 's',
      status: 'RUNNING',
      attempt: 1,
      compensationAttempt: 0,
      waitingForRetry: false,
      request: { x: 1 },
      result: undefined,
      lastError: null,
      startedAt: 5,
      finishedAt: null,
    },
  ],
  current: 0,
  failure: null,
  pastPivot: false,
  createdAt: 1,
  updatedAt: 2,
});

describe('SagaStateCache', () => {
  it('answers only when it holds every saga asked for', () => {
    const cache = new SagaStateCache(10);
    cache.remember(state('a'), 1);
    cache.remember(state('b'), 3);
    expect(cache.getAll(['a', 'b'])!.map((entry) => [entry.state.id, entry.version])).toEqual([
      ['a', 1],
      ['b', 3],
    ]);
    expect(cache.getAll(['a', 'c'])).toBeUndefined();
  });

  it('holds a copy shaped as the store reads it back, not the engine object', () => {
    const cache = new SagaStateCache(10);
    const original = state('a');
    cache.remember(original, 1);
    (original.input as { a: number }).a = 99;
    const [held] = cache.getAll(['a'])!;
    expect(held.state.input).toEqual({ a: 1 });
    expect(held.state.steps[0].result).toBeNull(); // undefined is stored as null
  });

  it('drops finished sagas and the least recently written when full', () => {
    const cache = new SagaStateCache(2);
    cache.remember(state('a'), 1);
    cache.remember(state('b'), 1);
    cache.remember(state('a'), 2); // written again: now the most recent
    cache.remember(state('c'), 1);
    expect(cache.getAll(['b'])).toBeUndefined();
    expect(cache.getAll(['a', 'c'])!.map((entry) => entry.version)).toEqual([2, 1]);
    cache.remember(state('a', 'COMPLETED'), 3);
    expect(cache.getAll(['a'])).toBeUndefined();
    cache.forget(['c']);
    expect(cache.size).toBe(0);
  });

  it('holds nothing with capacity 0', () => {
    const cache = new SagaStateCache(0);
    cache.remember(state('a'), 1);
    expect(cache.getAll(['a'])).toBeUndefined();
  });

  it('holds at most maxBytes of state, measured as JSON, dropping the least recently written', () => {
    const size = JSON.stringify(state('a')).length;
    const cache = new SagaStateCache(100, 2 * size + 10);
    cache.remember(state('a'), 1);
    cache.remember(state('b'), 1);
    expect(cache.bytes).toBe(2 * size);
    cache.remember(state('c'), 1); // over the budget: 'a' goes
    expect(cache.getAll(['a'])).toBeUndefined();
    expect(cache.getAll(['b', 'c'])).toHaveLength(2);
    expect(cache.bytes).toBe(2 * size);
    cache.forget(['b']);
    expect(cache.bytes).toBe(size);
    const huge = { ...state('h'), input: { blob: 'x'.repeat(3 * size) } };
    cache.remember(huge, 1); // larger than the whole budget: not held, nothing else evicted
    expect(cache.getAll(['h'])).toBeUndefined();
    expect(cache.getAll(['c'])).toHaveLength(1);
    cache.remember(state('c', 'COMPLETED'), 2); // finished: dropped, its bytes too
    expect(cache.bytes).toBe(0);
  });
});
