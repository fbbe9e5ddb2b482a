/**
 * A structured diff of two versions of a saga definition: what an operator reads before letting
 * new sagas start on a new version (running sagas stay on theirs).
 *
 * Guarantees: pure (definitions in, data out). Steps are matched by name, not position, so a step
 * inserted in the middle reads as one added step, not as every later step changed; a step that
 * moved says so. Every change carries a JSON path and the old and new values (a side where the
 * member is absent has no value: `from`/`to` is left out).
 */
import type { SagaDefinition } from '#saga/core';

export interface JsonChange {
  path: string;
  kind: 'added' | 'removed' | 'changed';
  from?: unknown;
  to?: unknown;
}

export interface StepChange {
  name: string;
  fromPosition: number;
  toPosition: number;
  changes: JsonChange[];
}

export interface DefinitionDiff {
  identical: boolean;
  /** Top-level fields other than `steps` (description, inputSchema, defaults, deadlineMs...). */
  fields: JsonChange[];
  steps: { added: { name: string; position: number }[]; removed: { name: string; position: number }[]; changed: StepChange[] };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const child = (path: string, key: string | number) => (typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`);

/** Every difference between two JSON values, objects by key, arrays by index. */
export function jsonChanges(from: unknown, to: unknown, path = ''): JsonChange[] {
  if (from === undefined && to === undefined) return [];
  if (from === undefined) return [{ path, kind: 'added', to }];
  if (to === undefined) return [{ path, kind: 'removed', from }];
  if (isObject(from) && isObject(to)) {
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    return keys.flatMap((key) => jsonChanges(from[key], to[key], child(path, key)));
  }
  if (Array.isArray(from) && Array.isArray(to)) {
    return Array.from({ length: Math.max(from.length, to.length) }, (_, index) => jsonChanges(from[index], to[index], child(path, index))).flat();
  }
  return JSON.stringify(from) === JSON.stringify(to) ? [] : [{ path, kind: 'changed', from, to }];
}

export function diffDefinitions(from: SagaDefinition, to: SagaDefinition): DefinitionDiff {
  const plain = (definition: SagaDefinition) => JSON.parse(JSON.stringify(definition)) as Record<string, unknown> & { steps: Record<string, unknown>[] };
  const a = plain(from);
  const b = plain(to);
  const { steps: fromSteps, version: _fromVersion, ...fromFields } = a;
  const { steps: toSteps, version: _toVersion, ...toFields } = b;
  const fields = jsonChanges(fromFields, toFields);
  const position = (steps: Record<string, unknown>[]) => new Map(steps.map((step, index) => [step.name as string, index]));
  const before = position(fromSteps);
  const after = position(toSteps);
  const added = toSteps.filter((step) => !before.has(step.name as string)).map((step) => ({ name: step.name as string, position: after.get(step.name as string)! }));
  const removed = fromSteps.filter((step) => !after.has(step.name as string)).map((step) => ({ name: step.name as string, position: before.get(step.name as string)! }));
  const changed: StepChange[] = [];
  for (const [name, fromPosition] of before) {
    const toPosition = after.get(name);
    if (toPosition === undefined) continue;
    const changes = jsonChanges(fromSteps[fromPosition], toSteps[toPosition]);
    if (changes.length > 0 || fromPosition !== toPosition) changed.push({ name, fromPosition, toPosition, changes });
  }
  return { identical: fields.length === 0 && added.length === 0 && removed.length === 0 && changed.length === 0, fields, steps: { added, removed, changed } };
}
