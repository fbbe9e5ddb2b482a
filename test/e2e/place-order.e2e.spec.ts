/**
 * place-order end to end: orchestrator + order, inventory and payment services on the real
 * PostgreSQL and RabbitMQ. Checks the saga outcome through the REST API and the effects in each
 * participant's own tables.
 */
import { TestSystem, type SagaBody } from './system-harness';

const order = (overrides: Record<string, unknown> = {}) => ({
  customerId: 'c-42',
  items: [
    { sku: 'sku-1', quantity: 2 },
    { sku: 'sku-2', quantity: 1 },
  ],
  amount: 150,
  ...overrides,
});

function compensationOrder(saga: SagaBody): string[] {
  return saga.history.filter((entry) => entry.type === 'COMPENSATION_SENT').map((entry) => entry.step!);
}

describe('place-order saga (e2e)', () => {
  let system: TestSystem;

  beforeAll(async () => {
    system = await TestSystem.start();
  });

  afterAll(async () => {
    await system?.close();
  });

  it('completes the happy path and applies every effect once', async () => {
    const started = await system.startSaga('place-order', order()).expect(202);
    expect(started.body).toMatchObject({ status: 'RUNNING', name: 'place-order', version: 1, links: { self: `/sagas/${started.body.id}` } });
    expect(started.headers.location).toBe(`/sagas/${started.body.id}`);

    const saga = await system.waitForSaga(started.body.id);
    expect(saga.status).toBe('COMPLETED');
    expect(saga.steps.map((s) => [s.name, s.status])).toEqual([
      ['create-order', 'SUCCEEDED'],
      ['reserve-inventory', 'SUCCEEDED'],
      ['charge-payment', 'SUCCEEDED'],
      ['approve-order', 'SUCCEEDED'],
    ]);
    expect(saga.history.map((h) => h.type)).toEqual([
      'SAGA_STARTED',
      ...['create-order', 'reserve-inventory', 'charge-payment', 'approve-order'].flatMap(() => ['COMMAND_SENT', 'REPLY_RECEIVED']),
      'SAGA_COMPLETED',
    ]);
    const [orderRow] = await system.query('orders', 'SELECT status FROM orders WHERE order_id = $1', [saga.id]);
    expect(orderRow.status).toBe('APPROVED');
    const payments = await system.query('payments', 'SELECT status, amount::float AS amount FROM payments WHERE payment_id = $1', [saga.id]);
    expect(payments).toEqual([{ status: 'CHARGED', amount: 150 }]);
  });

  it('POST with waitMs answers 200 with the whole finished saga, or 202 with its summary when the wait ends first', async () => {
    const finished = await system.http().post('/sagas/place-order?waitMs=20000').send(order()).expect(200);
    expect(finished.headers.location).toBe(`/sagas/${finished.body.id}`);
    expect(finished.body.status).toBe('COMPLETED');
    // Exactly what GET returns for it.
    expect(finished.body).toEqual((await system.http().get(`/sagas/${finished.body.id}`).expect(200)).body);

    const unfinished = await system.http().post('/sagas/place-order?waitMs=0').send(order()).expect(202);
    expect(unfinished.body).toMatchObject({ id: expect.any(String), status: 'RUNNING', links: { self: `/sagas/${unfinished.body.id}` } });
    expect(unfinished.body.history).toBeUndefined();
    expect((await system.waitForSaga(unfinished.body.id)).status).toBe('COMPLETED');
    await system.http().post('/sagas/place-order?waitMs=soon').send(order()).expect(400);
  });

  it('rolls back a declined payment: release inventory, then reject the order', async () => {
    const started = await system.startSaga('place-order', order({ amount: 10_000.01 })).expect(202);
    const saga = await system.waitForSaga(started.body.id);
    expect(saga.status).toBe('COMPENSATED');
    expect(compensationOrder(saga)).toEqual(['reserve-inventory', 'create-order']);
    const failed = saga.history.find((h) => h.type === 'STEP_FAILED');
    expect(failed).toMatchObject({ step: 'charge-payment', direction: 'action', attempt: 1, reason: 'DECLINED' });
    expect(saga.steps.map((s) => s.status)).toEqual(['COMPENSATED', 'COMPENSATED', 'FAILED', 'PENDING']);
    const [orderRow] = await system.query('orders', 'SELECT status FROM orders WHERE order_id = $1', [saga.id]);
    expect(orderRow.status).toBe('REJECTED');
    expect(await system.query('payments', 'SELECT 1 FROM payments WHERE payment_id = $1', [saga.id])).toHaveLength(0);
    const reservation = await system.query('inventory', 'SELECT status FROM reservations WHERE reservation_id = $1', [saga.id]);
    expect(reservation).toEqual([{ status: 'RELEASED' }]);
  });

  it('rolls back when stock is short: only the order is rejected', async () => {
    const before = await system.query<{ available: number }>('inventory', "SELECT available FROM stock WHERE sku = 'sku-3'");
    const started = await system.startSaga('place-order', order({ items: [{ sku: 'sku-3', quantity: before[0].available + 1 }] })).expect(202);
    const saga = await system.waitForSaga(started.body.id);
    expect(saga.status).toBe('COMPENSATED');
    expect(compensationOrder(saga)).toEqual(['create-order']);
    expect(saga.history.find((h) => h.type === 'STEP_FAILED')).toMatchObject({ step: 'reserve-inventory', reason: 'OUT_OF_STOCK' });
    const after = await system.query<{ available: number }>('inventory', "SELECT available FROM stock WHERE sku = 'sku-3'");
    expect(after[0].available).toBe(before[0].available);
  });

  it('starts one saga per Idempotency-Key and refuses the key with another input', async () => {
    const key = `order-${system.id}`;
    const first = await system.startSaga('place-order', order({ amount: 77 }), key).expect(202);
    const again = await system.startSaga('place-order', order({ amount: 77 }), key).expect(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const conflict = await system.startSaga('place-order', order({ amount: 78 }), key).expect(409);
    expect(conflict.body.sagaId).toBe(first.body.id);
    const rows = await system.query('orchestrator', 'SELECT id FROM saga_instances WHERE idempotency_key = $1', [key]);
    expect(rows).toEqual([{ id: first.body.id }]);
    expect((await system.waitForSaga(first.body.id)).status).toBe('COMPLETED');
  });

  it('rejects bad input with 400 and field errors, storing nothing', async () => {
    const before = await system.query('orchestrator', 'SELECT count(*)::int AS n FROM saga_instances');
    const response = await system.startSaga('place-order', { customerId: '', items: [{ sku: 'sku-1', quantity: 0 }] }).expect(400);
    expect(response.body.errors).toEqual(
      expect.arrayContaining([
        { field: 'amount', message: expect.any(String) },
        { field: 'customerId', message: expect.any(String) },
        { field: 'items.0.quantity', message: expect.any(String) },
      ]),
    );
    const after = await system.query('orchestrator', 'SELECT count(*)::int AS n FROM saga_instances');
    expect(after).toEqual(before);
    await system.http().post('/sagas/no-such-saga').send({}).expect(404);
    await system.http().get('/sagas/not-a-uuid').expect(400);
    await system.http().get('/sagas/00000000-0000-4000-8000-000000000000').expect(404);
    await system.http().get('/sagas/00000000-0000-4000-8000-000000000000?waitMs=-1').expect(400);
  });

  it('serves the OpenAPI document and the definitions', async () => {
    const openapi = await system.http().get('/docs-json').expect(200);
    expect(Object.keys(openapi.body.paths)).toEqual(expect.arrayContaining(['/sagas/{name}', '/sagas/{id}', '/sagas/{id}/cancel', '/definitions/{name}', '/health']));
    expect(openapi.body.paths['/sagas/{name}'].post.requestBody.content['application/json'].schema.oneOf).toEqual([{ $ref: '#/components/schemas/SagaInput_place-order' }]);
    expect(openapi.body.components.schemas['SagaInput_place-order'].required).toEqual(['customerId', 'items', 'amount']);
    const definition = await system.http().get('/definitions/place-order').expect(200);
    expect(definition.body.routes.map((r: { action: { queue: string } }) => r.action.queue)).toEqual(['saga.order', 'saga.inventory', 'saga.payment', 'saga.order']);
    // Steps without their own policies show the saga's defaults; charge-payment its own timeout.
    expect(definition.body.policies.map((p: { step: string; timeoutMs: number; retry: { maxAttempts: number } }) => [p.step, p.timeoutMs, p.retry.maxAttempts])).toEqual([
      ['create-order', 5_000, 3],
      ['reserve-inventory', 5_000, 3],
      ['charge-payment', 8_000, 3],
      ['approve-order', 5_000, 3],
    ]);
    expect(definition.body.policies[0].compensationRetry.maxAttempts).toBe(10);
    expect(definition.body.policies[2].retry.backoff.initialMs).toBe(500);
    await system.http().get('/health').expect(200);
  });

  it('exposes Prometheus metrics that agree with the stored sagas', async () => {
    const metric = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const rows = await system.query<{ status: string; n: number }>('orchestrator', 'SELECT status, count(*)::int AS n FROM saga_instances GROUP BY status');
    const count = (status: string) => rows.find((row) => row.status === status)?.n ?? 0;
    const response = await system.http().get('/metrics').expect(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const text = response.text;
    expect(metric(text, 'saga_started_total{saga="place-order"}')).toBe(rows.reduce((sum, row) => sum + row.n, 0));
    expect(metric(text, 'saga_finished_total{saga="place-order",status="COMPLETED"}')).toBe(count('COMPLETED'));
    expect(metric(text, 'saga_finished_total{saga="place-order",status="COMPENSATED"}')).toBe(count('COMPENSATED'));
    expect(metric(text, 'saga_stuck')).toBe(0);
    expect(metric(text, 'saga_outbox_backlog')).toBe(0);
    expect(text).toMatch(/^saga_event_handle_seconds_count\{type="REPLY"\} \d+$/m);
  });
});
