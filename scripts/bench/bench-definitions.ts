/**
 * The definitions the bench and the seed command run: `place-order` (built in), the shipped
 * `bench` saga (scripts/bench/definitions/bench.saga.json), or any `*.json` definition file.
 *
 * Guarantees: one place resolves a name to a definition, for both commands; an unknown name
 * or an unreadable file is an error naming it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SagaDefinition } from '#saga/core';
import { placeOrderSaga } from '../../apps/orchestrator/src/definitions/built-in/place-order.saga';

/** Compiled to dist/scripts/bench/: the JSON stays in the source tree. */
export const BENCH_DEFINITIONS_DIR = join(__dirname, '..', '..', '..', 'scripts', 'bench', 'definitions');

export function benchDefinitionNamed(name: string): SagaDefinition {
  if (name === placeOrderSaga.name) return placeOrderSaga;
  const file = name.endsWith('.json') ? name : join(BENCH_DEFINITIONS_DIR, `${name}.saga.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SagaDefinition;
  } catch (error) {
    throw new Error(`unknown definition ${name} (${(error as Error).message})`);
  }
}
