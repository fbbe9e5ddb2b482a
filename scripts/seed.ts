/**
 * Fills an orchestrator database with finished and waiting sagas (see scripts/bench/seed.ts),
 * to see how the product behaves once the tables have grown.
 *
 *   npm run seed -- --database-url URL [--finished 1000000] [--waiting 100000] [--definition place-order|bench|FILE.json]
 *
 * Guarantees: creates the database and runs the migrations when they are missing; prints a line
 * per committed batch, then the counts, the time taken and the size of each saga_* table; an
 * unknown flag or a bad value stops it before anything is written (exit code 2).
 */
import 'reflect-metadata';
import type { SagaDefinition } from '#saga/core';
import { ensureDatabase } from '../libs/persistence/src/ensure-database';
import { benchDefinitionNamed } from './bench/bench-definitions';
import { seedDefinitionOf, seedSagas } from './bench/seed';

const USAGE = 'usage: node dist/scripts/seed.js --database-url URL [--finished 1000000] [--waiting 100000] [--definition place-order|bench|FILE.json]';

function parse(argv: string[]): { databaseUrl: string; finished: number; waiting: number; definition: string } {
  const options = { databaseUrl: '', finished: 1_000_000, waiting: 100_000, definition: 'place-order' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--database-url') options.databaseUrl = value;
    else if (flag === '--definition') options.definition = value;
    else if (flag === '--finished' || flag === '--waiting') {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 0) throw new Error(`${flag} needs an integer >= 0, got ${value}`);
      options[flag === '--finished' ? 'finished' : 'waiting'] = count;
    } else throw new Error(`unknown option ${flag}`);
  }
  if (!options.databaseUrl) throw new Error('--database-url is required');
  return options;
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parse>;
  let definition: SagaDefinition;
  try {
    options = parse(process.argv.slice(2));
    definition = benchDefinitionNamed(options.definition);
  } catch (error) {
    console.error(`seed: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const total = options.finished + options.waiting;
  console.log(
    `seed: ${options.finished} finished + ${options.waiting} waiting ${definition.name}@${definition.version} sagas into ${new URL(options.databaseUrl).pathname.slice(1)}`,
  );
  await ensureDatabase(options.databaseUrl);
  const started = Date.now();
  const result = await seedSagas({
    databaseUrl: options.databaseUrl,
    finished: options.finished,
    waiting: options.waiting,
    definition: seedDefinitionOf(definition),
    onProgress: (done) => {
      const seconds = (Date.now() - started) / 1000;
      console.log(`seed: ${done}/${total} sagas (${((100 * done) / total).toFixed(0)}%), ${seconds.toFixed(1)} s, ${Math.round(done / seconds)} sagas/s`);
    },
  });
  console.log(`seed: done, ${result.finished} finished + ${result.waiting} waiting sagas in ${result.seconds.toFixed(1)} s (vacuum analyze included)`);
  for (const [table, size] of Object.entries(result.tableSizes)) console.log(`  ${table.padEnd(16)} ${size}`);
}

main().catch((error: unknown) => {
  console.error('seed failed:', error);
  process.exit(1);
});
