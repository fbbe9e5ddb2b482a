/**
 * How fast GET /sagas finds sagas on a grown table: for each filter of search-cases.ts, the
 * first page and the page 20 cursors deep, each run N times, p50/p99 in ms, with the index the
 * plan uses, and GET /sagas/counts. Run against a seeded database (npm run seed -- --database-url URL).
 *
 *   npm run list-latency -- --database-url URL [--runs 200] [--limit 50]
 *
 * Guarantees: reads only (never writes); each measured run is the search as the API runs it
 * (saga-search.ts, the orchestrator's session settings, its own connection pool of 2), timed
 * on the client, so a round trip is included; progress lines go to stderr, the table to stdout.
 */
import 'reflect-metadata';
import { openSagaDataSource } from '../libs/persistence/src/saga-data-source';
import { countSagas } from '../apps/orchestrator/src/api/sagas/saga-counts';
import { searchSagas, type SagaSearchFilter } from '../apps/orchestrator/src/api/sagas/saga-search';
import { planIndexes, searchCases } from './bench/search-cases';

const USAGE = 'usage: node dist/scripts/list-latency.js --database-url URL [--runs 200] [--limit 50]';
const DEPTH = 20;

function parse(argv: string[]): { databaseUrl: string; runs: number; limit: number } {
  const options = { databaseUrl: '', runs: 200, limit: 50 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--database-url') options.databaseUrl = value;
    else if (flag === '--runs' || flag === '--limit') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new Error(`${flag} needs an integer from 1, got ${value}`);
      options[flag === '--runs' ? 'runs' : 'limit'] = n;
    } else throw new Error(`unknown option ${flag}`);
  }
  if (!options.databaseUrl) throw new Error('--database-url is required');
  return options;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function main(): Promise<void> {
  let options: ReturnType<typeof parse>;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    console.error(`list-latency: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const dataSource = await openSagaDataSource(options.databaseUrl, 2);
  try {
    const [{ n }]: { n: number }[] = await dataSource.query('SELECT reltuples::bigint AS n FROM pg_class WHERE oid = $1::regclass', ['saga_instances']);
    console.error(`list-latency: ~${n} sagas, ${options.runs} runs per page, limit ${options.limit}`);
    const rows: string[][] = [];
    for (const testCase of searchCases(Date.now())) {
      const filter: SagaSearchFilter = { ...testCase.filter, limit: options.limit };
      // Walk DEPTH pages to find the deep page's cursor (none when the results end earlier).
      let deep: SagaSearchFilter | undefined = filter;
      for (let page = 0; page < DEPTH && deep; page++) {
        const { rows: found, more } = await searchSagas(dataSource, deep);
        const last = found.at(-1);
        deep = more && last ? { ...filter, after: { updatedAt: last.cursor_at, id: last.id } } : undefined;
      }
      const time = async (f: SagaSearchFilter): Promise<number[]> => {
        const times: number[] = [];
        for (let run = 0; run < options.runs; run++) {
          const started = performance.now();
          await searchSagas(dataSource, f);
          times.push(performance.now() - started);
        }
        return times.sort((a, b) => a - b);
      };
      const first = await time(filter);
      const deeper = deep ? await time(deep) : undefined;
      const { indexes, seqScan } = await planIndexes(dataSource, filter);
      const ms = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
      rows.push([
        testCase.name,
        ms(percentile(first, 50)),
        ms(percentile(first, 99)),
        ms(deeper && percentile(deeper, 50)),
        ms(deeper && percentile(deeper, 99)),
        `${indexes.join('+')}${seqScan ? ' +SEQ SCAN' : ''}`,
      ]);
      console.error(`list-latency: ${testCase.name}: first p99 ${ms(percentile(first, 99))} ms, deep p99 ${ms(deeper && percentile(deeper, 99))} ms`);
    }
    const counts: number[] = [];
    for (let run = 0; run < options.runs; run++) {
      const started = performance.now();
      await countSagas(dataSource);
      counts.push(performance.now() - started);
    }
    counts.sort((a, b) => a - b);
    rows.push(['GET /sagas/counts', percentile(counts, 50).toFixed(1), percentile(counts, 99).toFixed(1), '-', '-', 'ix_saga_status_updated']);
    console.error(`list-latency: counts: p99 ${percentile(counts, 99).toFixed(1)} ms`);
    const header = ['filter', 'first p50', 'first p99', `page ${DEPTH + 1} p50`, `page ${DEPTH + 1} p99`, 'index'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const row of rows) console.log(line(row));
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  console.error('list-latency failed:', error);
  process.exit(1);
});
