/**
 * inventory.reserve / inventory.release under real concurrency, against real PostgreSQL: many
 * multi-sku reservations in opposite and shuffled item orders, and releases, run at once through
 * the participant toolkit on a pool of connections.
 *
 * Guarantees checked: no deadlock (nor any other error: every command answers success, or
 * OUT_OF_STOCK when stock is scarce), never a negative stock, no lost update (the final stock of
 * every sku is exactly on hand minus what the successful, unreleased reservations hold), and
 * on_hand - available matches the RESERVED reservation items.
 */
import { CommandProcessor, controllerHandlers, HandlerRegistry, PARTICIPANT_TOOLKIT_MIGRATIONS, type ProcessResult } from '#saga/participant';
import { DataSource } from 'typeorm';
import { INVENTORY_ENTITIES } from '../../apps/inventory-service/src/entities';
import { InventoryController, type ReserveResult } from '../../apps/inventory-service/src/inventory.controller';
import { CreateInventory1763700000100 } from '../../apps/inventory-service/src/migrations/1763700000100-CreateInventory';
import { createTestDatabase, runId } from '../support/infra';
import type { CommandSpec } from './harness';
import { commandMessage } from './processor-harness';

const POOL = 12;

let database: { url: string; drop: () => Promise<void> };
let dataSource: DataSource;
let processor: CommandProcessor;

beforeAll(async () => {
  database = await createTestDatabase(runId(), 'inventory_concurrency');
  dataSource = new DataSource({
    type: 'postgres',
    url: database.url,
    entities: INVENTORY_ENTITIES,
    migrations: [...PARTICIPANT_TOOLKIT_MIGRATIONS, CreateInventory1763700000100],
    // Detect a deadlock after 50 ms instead of 1 s, so a lock-order regression fails fast.
    extra: { max: POOL, options: '-c deadlock_timeout=50' },
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  processor = new CommandProcessor({ dataSource, handlers: new HandlerRegistry(await controllerHandlers([InventoryController])) });
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let counter = 0;
type Item = { sku: string; quantity: number };
const reserve = (sagaId: string, items: Item[]): CommandSpec => ({
  sagaId,
  step: 'reserve-stock',
  direction: 'action',
  pattern: 'inventory.reserve',
  data: { reservationId: sagaId, items },
});
const release = (sagaId: string): CommandSpec => ({ sagaId, step: 'reserve-stock', direction: 'compensation', pattern: 'inventory.release', data: { reservationId: sagaId } });

async function run(spec: CommandSpec): Promise<{ spec: CommandSpec; outcome: Extract<ProcessResult, { kind: 'reply' }>['outcome'] }> {
  const result = await processor.process(...commandMessage(spec));
  if (result.kind !== 'reply') throw new Error(`dead-lettered: ${result.reason}`);
  return { spec, outcome: result.outcome };
}

/** Items over `skus` in the given order, each sku once or twice (duplicates are summed). */
function items(skus: string[], next: () => number, maxQuantity: number): Item[] {
  const list = skus.map((sku) => ({ sku, quantity: 1 + Math.floor(next() * maxQuantity) }));
  if (next() < 0.3) list.push({ sku: skus[0], quantity: 1 });
  return list;
}

function shuffled<T>(values: T[], next: () => number): T[] {
  const copy = [...values];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

async function seed(skus: string[], onHand: number): Promise<void> {
  await dataSource.query('INSERT INTO stock (sku, on_hand, available) SELECT sku, $2, $2 FROM unnest($1::text[]) AS sku', [skus, onHand]);
}

async function stock(skus: string[]): Promise<Record<string, number>> {
  const rows: { sku: string; available: number }[] = await dataSource.query('SELECT sku, available FROM stock WHERE sku = ANY ($1::text[])', [skus]);
  return Object.fromEntries(rows.map((row) => [row.sku, row.available]));
}

/** For every sku: on_hand - available must equal what RESERVED reservations hold. */
async function drift(): Promise<unknown[]> {
  return dataSource.query(`
    SELECT s.sku, s.on_hand - s.available AS taken, COALESCE(SUM(i.quantity) FILTER (WHERE r.status = 'RESERVED'), 0) AS held
    FROM stock s LEFT JOIN reservation_items i ON i.sku = s.sku LEFT JOIN reservations r ON r.reservation_id = i.reservation_id
    GROUP BY s.sku, s.on_hand, s.available
    HAVING s.on_hand - s.available <> COALESCE(SUM(i.quantity) FILTER (WHERE r.status = 'RESERVED'), 0)`);
}

/** What a list of answers took from (or gave back to) each sku. */
function held(answers: Awaited<ReturnType<typeof run>>[], into: Record<string, number>, sign: 1 | -1): void {
  for (const { outcome } of answers) {
    if (outcome.kind !== 'success') continue;
    const result = outcome.result as ReserveResult & { released?: Item[] };
    for (const { sku, quantity } of result.items ?? result.released ?? []) into[sku] = (into[sku] ?? 0) + sign * quantity;
  }
}

const describeOutcome = ({ spec, outcome }: Awaited<ReturnType<typeof run>>) => `${spec.sagaId} ${outcome.kind} ${'code' in outcome ? `${outcome.code}: ${outcome.message}` : ''}`;

it('runs concurrent multi-sku reservations in opposite orders, and releases, without deadlock and with exact stock', async () => {
  const next = random(20261121);
  const skus = ['d-a', 'd-b', 'd-c', 'd-d', 'd-e', 'D-F'];
  await seed(skus, 1_000_000);
  const ascending = [...skus].sort();
  const descending = [...ascending].reverse();
  const orderFor = (index: number) => (index % 3 === 0 ? ascending : index % 3 === 1 ? descending : shuffled(skus, next));

  // Wave 1: reservations only. Wave 2: releases of half of them, racing new reservations.
  const first = await Promise.all(Array.from({ length: 150 }, (_, index) => run(reserve(`dl-${++counter}`, items(orderFor(index), next, 5)))));
  const toRelease = first.filter((_, index) => index % 2 === 0).map(({ spec }) => release(spec.sagaId));
  const newer = Array.from({ length: 150 }, (_, index) => reserve(`dl-${++counter}`, items(orderFor(index + 1), next, 5)));
  const second = await Promise.all(shuffled([...toRelease, ...newer], next).map(run));

  const problems = [...first, ...second].filter(({ outcome }) => outcome.kind !== 'success').map(describeOutcome);
  expect(problems).toEqual([]);
  const expected: Record<string, number> = Object.fromEntries(skus.map((sku) => [sku, 1_000_000]));
  held([...first, ...second.filter(({ spec }) => spec.direction === 'action')], expected, -1);
  held(
    second.filter(({ spec }) => spec.direction === 'compensation'),
    expected,
    1,
  );
  expect(await stock(skus)).toEqual(expected);
  expect(await drift()).toEqual([]);
});

it('never oversells scarce stock: every reservation succeeds or fails OUT_OF_STOCK, and the stock adds up exactly', async () => {
  const next = random(4);
  const skus = ['s-a', 's-b', 's-c', 's-d'];
  await seed(skus, 60);
  const commands = Array.from({ length: 160 }, (_, index) => {
    const chosen = shuffled(skus, next).slice(0, 2 + (index % 3));
    return reserve(`sc-${++counter}`, items(index % 2 === 0 ? chosen.sort() : chosen.sort().reverse(), next, 4));
  });
  const first = await Promise.all(commands.map(run));
  // Give half of the successful ones back while the rest retry their luck.
  const won = first.filter(({ outcome }) => outcome.kind === 'success');
  const releases = won.filter((_, index) => index % 2 === 0).map(({ spec }) => release(spec.sagaId));
  const retries = Array.from({ length: 80 }, (_, index) => reserve(`sc-${++counter}`, items(index % 2 === 0 ? [...skus].sort() : [...skus].sort().reverse(), next, 2)));
  const second = await Promise.all(shuffled([...releases, ...retries], next).map(run));

  const all = [...first, ...second];
  const problems = all.filter(({ outcome }) => !(outcome.kind === 'success' || (outcome.kind === 'failure' && outcome.code === 'OUT_OF_STOCK'))).map(describeOutcome);
  expect(problems).toEqual([]);
  expect(won.length).toBeGreaterThan(10);
  expect(all.filter(({ outcome }) => outcome.kind === 'failure').length).toBeGreaterThan(10);
  const expected: Record<string, number> = Object.fromEntries(skus.map((sku) => [sku, 60]));
  held(
    all.filter(({ spec }) => spec.direction === 'action'),
    expected,
    -1,
  );
  held(
    second.filter(({ spec }) => spec.direction === 'compensation'),
    expected,
    1,
  );
  const final = await stock(skus);
  expect(final).toEqual(expected);
  for (const sku of skus) expect(final[sku]).toBeGreaterThanOrEqual(0);
  expect(await drift()).toEqual([]);
});
