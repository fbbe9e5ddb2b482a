/**
 * inventory-service against real PostgreSQL and RabbitMQ: the participant guarantees (dedupe,
 * tombstone, undo, expiry, dead-lettering) and the stock arithmetic under concurrency.
 */
import { commandMessageId, SagaHeaders } from '#saga/core';
import { bootstrapInventoryService } from '../../apps/inventory-service/src/bootstrap';
import { expectBareReplyProperties, openTestInfra, processedRow, type CommandSpec, type TestInfra } from './harness';

let infra: TestInfra;
let queue: string;

beforeAll(async () => {
  infra = await openTestInfra('inventory', (c) => bootstrapInventoryService({ amqpUrl: c.amqpUrl, amqpPrefix: c.prefix, databaseUrl: c.databaseUrl }, { logger: false }));
  queue = `${infra.prefix}.inventory`;
});

afterAll(async () => {
  await infra?.cleanup();
});

let sagaCounter = 0;
const newSaga = () => `saga-inv-${++sagaCounter}-${infra.id}`;

function reserve(sagaId: string, items: { sku: string; quantity: number }[], extra: Partial<CommandSpec> = {}): CommandSpec {
  return { sagaId, step: 'reserve-stock', direction: 'action', pattern: 'inventory.reserve', data: { reservationId: sagaId, items }, ...extra };
}

function release(sagaId: string, extra: Partial<CommandSpec> = {}): CommandSpec {
  return { sagaId, step: 'reserve-stock', direction: 'compensation', pattern: 'inventory.release', data: { reservationId: sagaId }, ...extra };
}

async function available(sku: string): Promise<number> {
  const { rows } = await infra.db.query('SELECT available FROM stock WHERE sku = $1', [sku]);
  return rows[0].available as number;
}

async function reservation(id: string): Promise<{ status: string } | undefined> {
  const { rows } = await infra.db.query('SELECT status FROM reservations WHERE reservation_id = $1', [id]);
  return rows[0];
}

/** For every sku: on_hand - available must equal what RESERVED reservations hold. */
async function stockDrift(): Promise<unknown[]> {
  const { rows } = await infra.db.query(`
    SELECT s.sku, s.on_hand - s.available AS taken, COALESCE(SUM(i.quantity) FILTER (WHERE r.status = 'RESERVED'), 0) AS held
    FROM stock s LEFT JOIN reservation_items i ON i.sku = s.sku LEFT JOIN reservations r ON r.reservation_id = i.reservation_id
    GROUP BY s.sku, s.on_hand, s.available
    HAVING s.on_hand - s.available <> COALESCE(SUM(i.quantity) FILTER (WHERE r.status = 'RESERVED'), 0)`);
  return rows;
}

afterEach(async () => {
  expect(await stockDrift()).toEqual([]);
});

it('seeds sku-1..3 with 1,000,000 units each', async () => {
  const { rows } = await infra.db.query('SELECT sku, on_hand FROM stock ORDER BY sku');
  expect(rows).toEqual([
    { sku: 'sku-1', on_hand: 1_000_000 },
    { sku: 'sku-2', on_hand: 1_000_000 },
    { sku: 'sku-3', on_hand: 1_000_000 },
  ]);
});

it('reserves stock and replies success with the reservation, carrying only the correlation id', async () => {
  const sagaId = newSaga();
  const before = await available('sku-1');
  const correlationId = await infra.amqp.send(
    queue,
    reserve(sagaId, [
      { sku: 'sku-1', quantity: 3 },
      { sku: 'sku-2', quantity: 1 },
      { sku: 'sku-1', quantity: 2 },
    ]),
  );
  const reply = await infra.amqp.reply(correlationId);
  expect(reply.body).toEqual({
    response: {
      reservationId: sagaId,
      items: [
        { sku: 'sku-1', quantity: 5 },
        { sku: 'sku-2', quantity: 1 },
      ],
    },
    isDisposed: true,
  });
  expectBareReplyProperties(reply, correlationId);
  expect(await available('sku-1')).toBe(before - 5);
  expect(await reservation(sagaId)).toEqual({ status: 'RESERVED' });
  const row = await processedRow(infra.db, commandMessageId({ sagaId, step: 'reserve-stock', direction: 'action' }));
  expect(row).toMatchObject({ saga_id: sagaId, step: 'reserve-stock', direction: 'action', pattern: 'inventory.reserve', outcome: { kind: 'success' } });
  expect(row?.request).toMatchObject({ reservationId: sagaId });
});

it('fails OUT_OF_STOCK naming the sku, and applies nothing', async () => {
  const sagaId = newSaga();
  const [before1, before3] = [await available('sku-1'), await available('sku-3')];
  const reply = await infra.amqp.call(
    queue,
    reserve(sagaId, [
      { sku: 'sku-1', quantity: 1 },
      { sku: 'sku-3', quantity: 2_000_000 },
    ]),
  );
  expect(reply.classified).toMatchObject({ kind: 'failure', code: 'OUT_OF_STOCK' });
  expect(reply.body).toMatchObject({ err: { code: 'OUT_OF_STOCK', message: expect.stringContaining('sku-3') } });
  expect(await available('sku-1')).toBe(before1);
  expect(await available('sku-3')).toBe(before3);
  expect(await reservation(sagaId)).toBeUndefined();
  const row = await processedRow(infra.db, commandMessageId({ sagaId, step: 'reserve-stock', direction: 'action' }));
  expect(row?.outcome).toMatchObject({ kind: 'failure', code: 'OUT_OF_STOCK' });
});

it('fails UNKNOWN_SKU and INVALID_COMMAND without touching stock', async () => {
  const unknown = await infra.amqp.call(queue, reserve(newSaga(), [{ sku: 'sku-404', quantity: 1 }]));
  expect(unknown.classified).toMatchObject({ kind: 'failure', code: 'UNKNOWN_SKU', message: expect.stringContaining('sku-404') });
  const invalidSaga = newSaga();
  const invalid = await infra.amqp.call(queue, reserve(invalidSaga, [{ sku: 'sku-1', quantity: -4 }]));
  expect(invalid.classified).toMatchObject({ kind: 'failure', code: 'INVALID_COMMAND' });
  // The invalid one (only) is also copied to the dead-letter queue, for an operator.
  const copy = await infra.amqp.nextDeadLetter();
  expect(copy.properties.messageId).toBe(commandMessageId({ sagaId: invalidSaga, step: 'reserve-stock', direction: 'action' }));
  expect(copy.properties.headers?.[SagaHeaders.deadLetterReason]).toBe(
    `payload failed validation (replied INVALID_COMMAND): ${(invalid.classified as { message: string }).message}`,
  );
  expect(await infra.amqp.deadLetterCount()).toBe(0);
});

it('applies a message delivered twice (and retried) once, answering the same stored reply', async () => {
  const sagaId = newSaga();
  const before = await available('sku-2');
  const spec = reserve(sagaId, [{ sku: 'sku-2', quantity: 7 }]);
  const first = await infra.amqp.send(queue, spec);
  await infra.amqp.send(queue, spec); // exact redelivery: same message id and correlation id
  const retried = await infra.amqp.send(queue, { ...spec, attempt: 2 }); // orchestrator retry
  const [a, b, c] = [await infra.amqp.reply(first, 1), await infra.amqp.reply(first, 2), await infra.amqp.reply(retried)];
  expect(b.raw).toBe(a.raw);
  expect(c.raw).toBe(a.raw);
  expect(a.classified.kind).toBe('success');
  expect(await available('sku-2')).toBe(before - 7);
  const { rows } = await infra.db.query('SELECT count(*)::int AS n FROM reservation_items WHERE reservation_id = $1', [sagaId]);
  expect(rows[0].n).toBe(1);
});

it('records a tombstone for an undo that arrives first, and refuses the late action', async () => {
  const sagaId = newSaga();
  const before = await available('sku-3');
  const undo = await infra.amqp.call(queue, release(sagaId));
  expect(undo.body).toEqual({ response: { compensated: false, reason: 'action never applied' }, isDisposed: true });
  const late = await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-3', quantity: 5 }]));
  expect(late.classified).toMatchObject({ kind: 'failure', code: 'ALREADY_COMPENSATED' });
  expect(await available('sku-3')).toBe(before);
  expect(await reservation(sagaId)).toBeUndefined();
  const again = await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-3', quantity: 5 }], { attempt: 2 }));
  expect(again.raw).toBe(late.raw);
});

it('reverses the effect when the undo follows the action, once', async () => {
  const sagaId = newSaga();
  const before = await available('sku-1');
  expect((await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-1', quantity: 11 }]))).classified.kind).toBe('success');
  expect(await available('sku-1')).toBe(before - 11);
  const undo = await infra.amqp.call(queue, release(sagaId));
  expect(undo.body).toEqual({ response: { reservationId: sagaId, released: [{ sku: 'sku-1', quantity: 11 }], alreadyReleased: false }, isDisposed: true });
  expect(await available('sku-1')).toBe(before);
  expect(await reservation(sagaId)).toEqual({ status: 'RELEASED' });
  const undoAgain = await infra.amqp.call(queue, release(sagaId, { attempt: 2 }));
  expect(undoAgain.raw).toBe(undo.raw);
  expect(await available('sku-1')).toBe(before);
});

it('treats the undo of a failed action as a recorded no-op', async () => {
  const sagaId = newSaga();
  await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-1', quantity: 5_000_000 }]));
  const undo = await infra.amqp.call(queue, release(sagaId));
  expect(undo.body).toMatchObject({ response: { compensated: false, reason: 'action not applied (OUT_OF_STOCK)' } });
});

it('never executes an expired action, stores nothing, and lets the fresh retry run once', async () => {
  const sagaId = newSaga();
  const before = await available('sku-2');
  const reply = await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-2', quantity: 1 }], { expiresAt: Date.now() - 1 }));
  expect(reply.classified.kind).toBe('expired');
  expect(reply.body).toMatchObject({ err: { code: 'EXPIRED' } });
  expect(await available('sku-2')).toBe(before);
  expect(await reservation(sagaId)).toBeUndefined();
  expect(await processedRow(infra.db, commandMessageId({ sagaId, step: 'reserve-stock', direction: 'action' }))).toBeUndefined();
  const retried = await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-2', quantity: 1 }], { attempt: 2 }));
  expect(retried.classified.kind).toBe('success');
  // A late redelivery of the expired attempt 1 now gets the stored answer (its 2nd reply).
  const first = await infra.amqp.send(queue, reserve(sagaId, [{ sku: 'sku-2', quantity: 1 }], { attempt: 1, expiresAt: Date.now() - 1 }));
  expect((await infra.amqp.reply(first, 2)).raw).toBe(retried.raw);
  expect(await available('sku-2')).toBe(before - 1);
});

it('treats the undo of an action that only ever expired as a tombstone', async () => {
  const sagaId = newSaga();
  const before = await available('sku-2');
  await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-2', quantity: 1 }], { expiresAt: Date.now() - 1 }));
  const undo = await infra.amqp.call(queue, release(sagaId));
  expect(undo.body).toEqual({ response: { compensated: false, reason: 'action never applied' }, isDisposed: true });
  const late = await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-2', quantity: 1 }], { attempt: 2 }));
  expect(late.classified).toMatchObject({ kind: 'failure', code: 'ALREADY_COMPENSATED' });
  expect(await available('sku-2')).toBe(before);
});

it('answers an expired undo EXPIRED without recording it, so its retry still runs', async () => {
  const sagaId = newSaga();
  const before = await available('sku-2');
  await infra.amqp.call(queue, reserve(sagaId, [{ sku: 'sku-2', quantity: 4 }]));
  const expired = await infra.amqp.call(queue, release(sagaId, { expiresAt: Date.now() - 1 }));
  expect(expired.classified.kind).toBe('expired');
  expect(await available('sku-2')).toBe(before - 4);
  expect(await processedRow(infra.db, commandMessageId({ sagaId, step: 'reserve-stock', direction: 'compensation' }))).toBeUndefined();
  const retried = await infra.amqp.call(queue, release(sagaId, { attempt: 2 }));
  expect(retried.classified.kind).toBe('success');
  expect(await available('sku-2')).toBe(before);
});

it('dead-letters malformed messages with the reason and keeps consuming', async () => {
  infra.amqp.sendRaw(queue, Buffer.from('{not json'), { correlationId: 'c1', replyTo: infra.amqp.replyQueue });
  const first = await infra.amqp.nextDeadLetter();
  expect(String(first.properties.headers?.[SagaHeaders.deadLetterReason])).toMatch(/not valid JSON/);
  expect(first.properties.headers?.[SagaHeaders.deadLetterSource]).toBe(queue);
  expect(first.content.toString()).toBe('{not json');

  infra.amqp.sendRaw(queue, Buffer.from(JSON.stringify({ pattern: 'inventory.reserve', data: {}, id: 'x' })), { correlationId: 'c2', replyTo: infra.amqp.replyQueue });
  expect(String((await infra.amqp.nextDeadLetter()).properties.headers?.[SagaHeaders.deadLetterReason])).toMatch(/x-saga-id/);

  const unknownPattern = await infra.amqp.send(queue, { ...reserve(newSaga(), [{ sku: 'sku-1', quantity: 1 }]), pattern: 'inventory.teleport' });
  expect(String((await infra.amqp.nextDeadLetter()).properties.headers?.[SagaHeaders.deadLetterReason])).toMatch(/no handler for pattern "inventory.teleport"/);

  const wrongDirection = await infra.amqp.send(queue, { ...release(newSaga()), direction: 'action' });
  expect(String((await infra.amqp.nextDeadLetter()).properties.headers?.[SagaHeaders.deadLetterReason])).toMatch(/handled as compensation/);

  const ok = await infra.amqp.call(queue, reserve(newSaga(), [{ sku: 'sku-1', quantity: 1 }]));
  expect(ok.classified.kind).toBe('success');
  expect(infra.amqp.repliesFor(unknownPattern)).toEqual([]);
  expect(infra.amqp.repliesFor(wrongDirection)).toEqual([]);
  expect(infra.amqp.repliesFor('c1')).toEqual([]);
});

it('keeps stock arithmetic exact under concurrent reservations, retries and undos', async () => {
  const before = await available('sku-3');
  const sagas = Array.from({ length: 40 }, () => newSaga());
  const sent: Promise<string>[] = [];
  sagas.forEach((sagaId, index) => {
    const spec = reserve(sagaId, [
      { sku: 'sku-3', quantity: 3 },
      { sku: 'sku-1', quantity: 1 },
    ]);
    sent.push(infra.amqp.send(queue, spec), infra.amqp.send(queue, { ...spec, attempt: 2 }));
    if (index % 2 === 0) sent.push(infra.amqp.send(queue, release(sagaId)));
  });
  const correlationIds = await Promise.all(sent);
  const replies = await Promise.all(correlationIds.map((id) => infra.amqp.reply(id)));
  expect(replies.every((r) => r.classified.kind === 'success' || (r.classified.kind === 'failure' && r.classified.code === 'ALREADY_COMPENSATED'))).toBe(true);
  const { rows } = await infra.db.query(`SELECT count(*)::int AS n FROM reservations WHERE reservation_id = ANY($1) AND status = 'RESERVED'`, [sagas]);
  expect(rows[0].n).toBe(20);
  expect(await available('sku-3')).toBe(before - 20 * 3);
});
