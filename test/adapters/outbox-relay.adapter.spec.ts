/**
 * The outbox relay of an in-process orchestrator against the real PostgreSQL and RabbitMQ,
 * with OUTBOX_POLL_MS=60000: the fallback poll never runs during these tests, so a command
 * published within a second or two can only have been published by a wake-up.
 *
 * Proves: a row committed by another connection (another replica) followed by NOTIFY
 * saga_outbox is published promptly, exactly as stored (body, messageId, correlationId,
 * replyTo, headers, persistent), and its row is deleted, also after the relay's LISTEN
 * connection was killed and re-established; a saga started over HTTP has its first
 * command on the participant queue `saga.order` promptly (the in-process signal), in the
 * stock Nest RMQ shape, and the outbox is empty afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { GetMessage } from 'amqplib';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../../apps/orchestrator/src/config/orchestrator-config';
import { waitFor } from '../support/infra';
import { drain, json } from './broker-probe';
import { OrchestratorEnvironment, PLACE_ORDER_INPUT } from './orchestrator-under-test';

/** Well under the 60 s poll; generous for a loaded 2-core machine. */
const PROMPT_MS = 2_000;

describe('outbox relay wake-ups (OUTBOX_POLL_MS=60000)', () => {
  let env: OrchestratorEnvironment;
  let app: INestApplication;
  const seen: GetMessage[] = [];

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('relay');
    app = await env.start({ OUTBOX_POLL_MS: '60000' });
  });

  afterAll(async () => {
    await env?.close();
  });

  /** Waits for a message on `queue` matching `match` (messages taken off the queue are kept in `seen`). */
  async function published(queue: string, match: (message: GetMessage) => boolean): Promise<GetMessage> {
    return waitFor(async () => {
      seen.push(...(await drain(env.amqpUrl, queue)));
      return seen.find(match);
    }, `a matching message on ${queue}`, 20_000, 20);
  }

  it('runs with a 60 s poll interval and an empty outbox', async () => {
    expect(app.get<OrchestratorConfig>(ORCHESTRATOR_CONFIG).outboxPollMs).toBe(60_000);
    expect(await env.outboxSize()).toBe(0);
  });

  it('publishes a row committed by another connection as soon as its NOTIFY arrives, then deletes it', async () => {
    const sagaId = randomUUID();
    const body = { pattern: 'inventory.reserve', data: { reservationId: sagaId, items: [{ sku: 'x', quantity: 3 }] }, id: `${sagaId}/reserve-inventory/action` };
    const properties = {
      messageId: `${sagaId}/reserve-inventory/action`,
      correlationId: `${sagaId}/reserve-inventory/action/4`,
      replyTo: 'saga.replies',
      persistent: true,
      contentType: 'application/json',
      timestamp: 1_700_000_000,
      headers: { 'x-saga-id': sagaId, 'x-saga-attempt': 4, 'x-custom': 'from another replica' },
    };
    const committedAt = Date.now();
    await env.query(
      `WITH row AS (INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at) VALUES ($1, 'saga.inventory', $2, $3, now()) RETURNING saga_id)
       SELECT pg_notify('saga_outbox', saga_id::text) FROM row`,
      [sagaId, body, properties],
    );

    const message = await published('saga.inventory', (m) => m.properties.correlationId === properties.correlationId);
    expect(Date.now() - committedAt).toBeLessThan(PROMPT_MS);
    expect(json(message)).toEqual(body);
    expect(message.properties).toMatchObject({
      deliveryMode: 2,
      messageId: properties.messageId,
      correlationId: properties.correlationId,
      replyTo: 'saga.replies',
      contentType: 'application/json',
      timestamp: 1_700_000_000,
      headers: properties.headers,
    });
    await waitFor(async () => (await env.outboxSize()) === 0, 'the published row to be deleted', 5_000);
  });

  it('listens again after its LISTEN connection is killed, and then hears NOTIFY again', async () => {
    const listeners = () => env.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN saga_outbox'`);
    const [old] = await listeners();
    await env.query('SELECT pg_terminate_backend($1)', [old.pid]);
    await waitFor(async () => (await listeners()).some((row) => row.pid !== old.pid), 'a new LISTEN connection', 20_000);

    const sagaId = randomUUID();
    const committedAt = Date.now();
    await env.query(
      `WITH row AS (INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at)
                    VALUES ($1, 'saga.payment', '{"pattern":"payment.charge","data":null,"id":"after-relisten"}', '{"messageId":"after-relisten","persistent":true}', now())
                    RETURNING saga_id)
       SELECT pg_notify('saga_outbox', saga_id::text) FROM row`,
      [sagaId],
    );
    await published('saga.payment', (m) => m.properties.messageId === 'after-relisten');
    expect(Date.now() - committedAt).toBeLessThan(PROMPT_MS);
  });

  it('publishes the first command of a saga started over HTTP promptly, in the Nest RMQ shape, and empties the outbox', async () => {
    const startedAt = Date.now();
    const id = await env.startSaga('place-order', PLACE_ORDER_INPUT);

    const message = await published('saga.order', (m) => m.properties.messageId === `${id}/create-order/action`);
    expect(Date.now() - startedAt).toBeLessThan(PROMPT_MS);
    expect(json(message)).toEqual({
      pattern: 'order.create',
      data: { orderId: id, customerId: 'c-1', items: PLACE_ORDER_INPUT.items, amount: 5 },
      id: `${id}/create-order/action`,
    });
    expect(message.properties).toMatchObject({
      deliveryMode: 2,
      correlationId: `${id}/create-order/action/1`,
      replyTo: 'saga.replies',
      headers: { 'x-saga-id': id, 'x-saga-name': 'place-order', 'x-saga-step': 'create-order', 'x-saga-direction': 'action', 'x-saga-attempt': 1 },
    });
    expect(message.properties.headers?.['x-saga-expires-at']).toBeGreaterThan(startedAt);
    await waitFor(async () => (await env.outboxSize()) === 0, 'the outbox to be empty', 5_000);
    const saga = await env.readSaga(id);
    expect(saga.history.map((entry) => entry.type)).toEqual(['SAGA_STARTED', 'COMMAND_SENT']);
  });
});
