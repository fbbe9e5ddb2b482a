/**
 * The diff of two definition versions: steps matched by name (an inserted step is one addition,
 * not a cascade of changes), moves reported, every change with its JSON path and both values.
 */
import type { SagaDefinition } from '#saga/core';
import { diffDefinitions, jsonChanges } from './definition-diff';

const v1: SagaDefinition = {
  name: 'ship',
  version: 1,
  description: 'first',
  inputSchema: { type: 'object' },
  steps: [
    { name: 'reserve', action: { command: 'stock.reserve' }, compensation: { command: 'stock.release' }, timeoutMs: 1000 },
    { name: 'send', action: { command: 'post.send' } },
  ],
};

describe('diffDefinitions', () => {
  it('says two versions with the same content are identical (the version number aside)', () => {
    expect(diffDefinitions(v1, { ...structuredClone(v1), version: 2 })).toEqual({ identical: true, fields: [], steps: { added: [], removed: [], changed: [] } });
  });

  it('lists added, removed, moved and changed steps and top-level fields with paths and values', () => {
    const v2: SagaDefinition = {
      name: 'ship',
      version: 2,
      inputSchema: { type: 'object', required: ['id'] },
      deadlineMs: 60_000,
      steps: [
        { name: 'pay', action: { command: 'pay.charge' }, compensation: { command: 'pay.refund' } },
        { name: 'reserve', action: { command: 'stock.reserve', payload: { id: '$.input.id' } }, compensation: { command: 'stock.release' }, timeoutMs: 2000 },
      ],
    };
    expect(diffDefinitions(v1, v2)).toEqual({
      identical: false,
      fields: [
        { path: 'deadlineMs', kind: 'added', to: 60_000 },
        { path: 'description', kind: 'removed', from: 'first' },
        { path: 'inputSchema.required', kind: 'added', to: ['id'] },
      ],
      steps: {
        added: [{ name: 'pay', position: 0 }],
        removed: [{ name: 'send', position: 1 }],
        changed: [
          {
            name: 'reserve',
            fromPosition: 0,
            toPosition: 1,
            changes: [
              { path: 'action.payload', kind: 'added', to: { id: '$.input.id' } },
              { path: 'timeoutMs', kind: 'changed', from: 1000, to: 2000 },
            ],
          },
        ],
      },
    });
  });

  it('compares arrays element by element', () => {
    expect(jsonChanges({ a: [1, 2] }, { a: [1, 3, 4] })).toEqual([
      { path: 'a[1]', kind: 'changed', from: 2, to: 3 },
      { path: 'a[2]', kind: 'added', to: 4 },
    ]);
  });
});
