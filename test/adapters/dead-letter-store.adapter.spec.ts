/**
 * DeadLetterStore against the real PostgreSQL.
 *
 * Proves: the migration builds both tables; insert is idempotent on the message key (the same
 * key again, also from two sessions at once, is one row and returns its id) while another key is
 * another row; a row keeps the body byte for byte and the headers as JSON; list filters by
 * state, source queue, saga, a part of the reason and age, newest first, and its keyset cursor
 * pages through without gaps or repeats; selectIds gives the oldest first with the total;
 * a dead letter leaves `parked` once (resolve refuses a second time), locked FOR UPDATE against
 * a concurrent action; the audit keeps every action in order; counts by state and queue.
 */
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { DeadLetterStore, openSagaDataSource, type NewDeadLetter } from '#saga/persistence';
import { createTestDatabase, runId } from '../support/infra';

const store = new DeadLetterStore();
let ds: DataSource;
let drop: () => Promise<void>;

beforeAll(async () => {
  const db = await createTestDatabase(runId(), 'deadletters');
  drop = db.drop;
  ds = await openSagaDataSource(db.url, 4);
});

afterAll(async () => {
  await ds?.destroy();
  await drop?.();
});

function letter(overrides: Partial<NewDeadLetter> = {}): NewDeadLetter {
  return {
    messageKey: randomBytes(16).toString('hex'),
    sourceQueue: 'saga.inventory',
    reason: 'processing failed on 5 deliveries: boom',
    reasonOrigin: 'ours',
    deathCount: null,
    sagaId: '0b8e3f64-6f55-4c4a-9a5e-3d1c1f0e0a01',
    step: 'reserve-inventory',
    direction: 'action',
    attempt: 1,
    kind: 'command',
    pattern: 'inventory.reserve',
    messageId: 'm-1',
    correlationId: 'c-1',
    contentType: 'application/json',
    properties: { messageId: 'm-1', timestamp: 1_700_000_000 },
    headers: { 'x-saga-step': 'reserve-inventory', 'x-saga-attempt': 1 },
    body: Buffer.from('{"pattern":"inventory.reserve"}'),
    replayOf: null,
    storageNote: null,
    deadLetteredAt: new Date(),
    ...overrides,
  };
}

describe('DeadLetterStore on PostgreSQL', () => {
  it('inserts once per message key, also from two sessions at once, and keeps the message as it was', async () => {
    const body = Buffer.from([0x00, 0xff, 0x7b, 0x0a, 0x80]); // not JSON, not even UTF-8
    const row = letter({ body, headers: { nested: { a: [1, 'x'] } } });
    const [first, second] = await Promise.all([store.insert(ds.manager, row), store.insert(ds.manager, row)]);
    expect(first.id).toBe(second.id);
    expect([first.inserted, second.inserted].sort()).toEqual([false, true]);
    expect(await store.insert(ds.manager, row)).toEqual({ id: first.id, inserted: false, sagaNoted: false });
    const other = await store.insert(ds.manager, letter({ body }));
    expect(other.inserted).toBe(true);
    expect(other.id).not.toBe(first.id);

    const stored = await store.get(ds.manager, first.id);
    expect(stored!.body.equals(body)).toBe(true);
    expect(stored).toMatchObject({ id: first.id, state: 'parked', headers: { nested: { a: [1, 'x'] } }, sagaNoted: false, kind: 'command', replayOf: null });
    await store.markSagaNoted(ds.manager, first.id);
    expect((await store.insert(ds.manager, row)).sagaNoted).toBe(true);
    expect(await store.get(ds.manager, 999_999)).toBeNull();
  });

  it('lists newest first with filters, and pages with a keyset cursor', async () => {
    const queue = `q-${runId()}`;
    const saga = '1b8e3f64-6f55-4c4a-9a5e-3d1c1f0e0a02';
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) {
      const old = i < 2;
      const row = letter({
        sourceQueue: queue,
        sagaId: i % 2 === 0 ? saga : null,
        reason: i === 3 ? 'Unroutable: no queue named "x"' : `failed ${i}`,
        deadLetteredAt: new Date(Date.now() - (old ? 7_200_000 : 1_000)),
      });
      ids.push((await store.insert(ds.manager, row)).id);
    }
    const all = await store.list(ds.manager, { sourceQueue: queue }, 100);
    expect(all.map((r) => r.id)).toEqual([...ids].reverse());

    const pages: number[][] = [];
    let after: number | undefined;
    for (;;) {
      const page = await store.list(ds.manager, { sourceQueue: queue }, 3, after);
      if (page.length === 0) break;
      pages.push(page.map((r) => r.id));
      after = page[page.length - 1].id;
    }
    expect(pages).toEqual([ids.slice(4).reverse(), ids.slice(1, 4).reverse(), [ids[0]]]);

    expect((await store.list(ds.manager, { sourceQueue: queue, sagaId: saga }, 100)).map((r) => r.id)).toEqual([ids[6], ids[4], ids[2], ids[0]]);
    expect((await store.list(ds.manager, { sourceQueue: queue, reason: 'UNROUTABLE' }, 100)).map((r) => r.id)).toEqual([ids[3]]);
    expect((await store.list(ds.manager, { sourceQueue: queue, before: new Date(Date.now() - 3_600_000) }, 100)).map((r) => r.id)).toEqual([ids[1], ids[0]]);
    expect(await store.selectIds(ds.manager, { sourceQueue: queue, state: 'parked' }, 3)).toEqual({ ids: ids.slice(0, 3), total: 7 });

    await store.resolve(ds.manager, ids[5], 'discarded', 'olga', 'noise', new Date());
    expect((await store.list(ds.manager, { sourceQueue: queue, state: 'parked' }, 100)).map((r) => r.id)).not.toContain(ids[5]);
    expect((await store.list(ds.manager, { sourceQueue: queue, state: 'discarded' }, 100)).map((r) => r.id)).toEqual([ids[5]]);
    const counts = await store.counts(ds.manager);
    expect(counts.filter((c) => c.sourceQueue === queue)).toEqual([
      { state: 'discarded', sourceQueue: queue, count: 1 },
      { state: 'parked', sourceQueue: queue, count: 6 },
    ]);
  });

  it('moves a dead letter out of parked once, under a row lock, and audits every action', async () => {
    const { id } = await store.insert(ds.manager, letter());
    const before = await store.countParked(ds.manager);
    const order: string[] = [];
    let second: Promise<void> | undefined;
    await ds.transaction(async (first) => {
      expect((await store.lockForUpdate(first, id))!.state).toBe('parked');
      // A second action waits for the first one's commit, then sees it replayed.
      second = ds.transaction(async (manager) => {
        const row = await store.lockForUpdate(manager, id);
        order.push(`second saw ${row!.state}`);
        order.push(`second resolved: ${await store.resolve(manager, id, 'discarded', 'bob', 'late', new Date())}`);
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(order).toEqual([]);
      expect(await store.resolve(first, id, 'replayed', 'ann', 'fixed', new Date())).toBe(true);
      await store.audit(first, { deadLetterId: id, action: 'replay', actor: 'ann', reason: 'fixed', at: new Date(), outcome: 'replayed', detail: null });
      order.push('first resolved');
    });
    await second;
    expect(order).toEqual(['first resolved', 'second saw replayed', 'second resolved: false']);
    await store.audit(ds.manager, {
      deadLetterId: id,
      action: 'discard',
      actor: 'bob',
      reason: 'late',
      at: new Date(),
      outcome: 'already-resolved',
      detail: 'dead letter is already replayed',
    });

    const row = await store.get(ds.manager, id);
    expect(row).toMatchObject({ state: 'replayed', resolvedBy: 'ann', resolvedReason: 'fixed' });
    expect(row!.resolvedAt).toBeInstanceOf(Date);
    expect((await store.actions(ds.manager, id)).map((a) => [a.action, a.actor, a.outcome])).toEqual([
      ['replay', 'ann', 'replayed'],
      ['discard', 'bob', 'already-resolved'],
    ]);
    expect(await store.countParked(ds.manager)).toBe(before - 1);
    await expect(store.audit(ds.manager, { deadLetterId: 987_654, action: 'replay', actor: 'x', reason: 'y', at: new Date(), outcome: 'z', detail: null })).rejects.toThrow(
      /foreign key/,
    );
  });
});
