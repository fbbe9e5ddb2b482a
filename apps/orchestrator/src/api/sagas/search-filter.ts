/**
 * GET /sagas query parameters (already checked one by one by ListSagasQuery) turned into the
 * search's filter: the cursor decoded, the instants parsed, the business key cut as stored
 * keys are, and the step name mapped to its positions through the loaded definitions.
 *
 * Guarantees: a value that passed the DTO but cannot be used (a cursor not given out here, a
 * range whose end is not after its start, a step no loaded definition has) is a 400 naming the
 * field (bad-request.ts), never a database error; nothing here reads the database but
 * withMissingVersions (definitionMissing=true), which asks the stored definitions.
 */
import { businessKeySearchValue, type SagaStatus } from '#saga/core';
import type { DefinitionRegistry } from '../../definitions/definition-registry';
import type { StoredDefinitions } from '../../definitions/stored-definitions';
import { badRequest } from '../bad-request';
import type { SagaFilterQuery } from './saga-requests.dto';
import { decodeCursor, type SagaSearchFilter, type StepPosition } from './saga-search';

function stepPositions(step: string, name: string | undefined, registry: DefinitionRegistry): StepPosition[] {
  const definitions = registry.all().filter((definition) => name === undefined || definition.name === name);
  return definitions.flatMap((definition) => {
    const position = definition.steps.findIndex((candidate) => candidate.name === step);
    return position >= 0 ? [{ name: definition.name, version: definition.version, position }] : [];
  });
}

export function searchFilter(query: SagaFilterQuery & { limit?: number; cursor?: string }, registry: DefinitionRegistry): SagaSearchFilter {
  const errors: { field: string; message: string }[] = [];
  const instant = (text: string | undefined) => (text === undefined ? undefined : new Date(text));
  const filter: SagaSearchFilter = {
    statuses: query.status && query.status.length > 0 ? ([...new Set(query.status)] as SagaStatus[]) : undefined,
    name: query.name,
    version: query.version,
    createdFrom: instant(query.createdFrom),
    createdTo: instant(query.createdTo),
    updatedFrom: instant(query.updatedFrom),
    updatedTo: instant(query.updatedTo),
    businessKey: query.businessKey === undefined ? undefined : businessKeySearchValue(query.businessKey),
    hasExceptions: query.hasExceptions === undefined ? undefined : query.hasExceptions === 'true',
    limit: query.limit ?? 50,
  };
  for (const [from, to, field] of [
    [filter.createdFrom, filter.createdTo, 'createdTo'],
    [filter.updatedFrom, filter.updatedTo, 'updatedTo'],
  ] as const) {
    if (from && to && to.getTime() <= from.getTime()) errors.push({ field, message: `${field} must be after ${field.replace('To', 'From')}` });
  }
  for (const field of ['createdFrom', 'createdTo', 'updatedFrom', 'updatedTo'] as const) {
    const value = filter[field];
    if (value && (Number.isNaN(value.getTime()) || value.getUTCFullYear() < 1 || value.getUTCFullYear() > 9999)) {
      errors.push({ field, message: `${field} must be an instant between the years 1 and 9999` });
    }
  }
  if (query.cursor !== undefined) {
    filter.after = decodeCursor(query.cursor);
    if (!filter.after) errors.push({ field: 'cursor', message: 'cursor must be a cursor this API gave out' });
  }
  if (query.step !== undefined) {
    filter.steps = stepPositions(query.step, query.name, registry);
    if (filter.steps.length === 0) {
      const where = query.name === undefined ? 'any loaded definition' : `a loaded version of ${query.name}`;
      errors.push({ field: 'step', message: `step must be the name of a step of ${where}` });
    }
  }
  if (errors.length > 0) throw badRequest('Request validation failed', errors);
  return filter;
}

/** The filter with `definitionMissing` resolved: the versions with unfinished sagas that this
 *  replica has not loaded (one GROUP BY over the partial index of unfinished sagas). */
export async function withMissingVersions(filter: SagaSearchFilter, query: SagaFilterQuery, definitions: Pick<StoredDefinitions, 'missing'>): Promise<SagaSearchFilter> {
  if (query.definitionMissing !== 'true') return filter;
  return { ...filter, unfinishedOf: (await definitions.missing()).map(({ name, version }) => ({ name, version })) };
}
