/**
 * How commands leave the outbox, with an in-process orchestrator against the real PostgreSQL and
 * RabbitMQ, OUTBOX_CLAIM_AFTER_MS=3000 and OUTBOX_POLL_MS=200.
 *
 * Proves: a saga started over HTTP has its first command on the participant queue `saga.order`
 * well before the relay could have claimed its row (so it was published from memory after the
 * commit), in the stock Nest RMQ shape, and its row is deleted; a row committed by another
 * process that never publishes it (a replica that died after its commit) is left alone while it
 * is younger than OUTBOX_CLAIM_AFTER_MS, then published by the relay exactly as stored (body,
 * messageId, correlationId, replyTo, headers, persistent) and deleted; an idle relay only reads
 * (its probe) and never opens the claiming write transaction.
 */
import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { GetMessage } from 'amqplib';
import { OutboxStore } from '#saga/persistence';
import { ORCHESTRATOR_CONFIG, type OrchestratorConfig } from '../../apps/orchestrator/src/config/orchestrator-config';
import { waitFor } from '../support/infra';
import { drain, json } from './broker-probe';
import { OrchestratorEnvironment, PLACE_ORDER_INPUT } from './orchestrator-under-test';
import { OutboxRelay } from '../../apps/orchestrator/src/runtime/outbox-relay.service';

const CLAIM_AFTER_MS = 3_000;
/** Well under CLAIM_AFTER_MS; generous for a loaded 2-core machine. */
const PROMPT_MS = 2_000;

describe('outbox publishing: from memory after the commit, by the relay when the writer did not', () => {
  let env: OrchestratorEnvironment;
  let app: INestApplication;
  const seen: GetMessage[] = [];

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('relay');
    app = await env.start({ OUTBOX_POLL_MS: '200', OUTBOX_CLAIM_AFTER_MS: String(CLAIM_AFTER_MS) });
  });

  afterAll(async () => {
    await env?.close();
  });

  /** Waits for a message on `queue` matching `match` (messages taken off the queue are kept in `seen`). */
  async function published(queue: string, match: (message: GetMessage) => boolean): Promise<GetMessage> {
    return waitFor(
      async () => {
        seen.push(...(await drain(env.amqpUrl, queue)));
        return seen.find(match);
      },
      `a matching message on ${queue}`,
      20_000,
      20,
    );
  }

  it('runs with the configured claim delay and an empty outbox', async () => {
    expect(app.get<OrchestratorConfig>(ORCHESTRATOR_CONFIG).outboxClaimAfterMs).toBe(CLAIM_AFTER_MS);
    expect(await env.outboxSize()).toBe(0);
  });

  it('an idle relay probes with a read and never opens the claiming transaction', async () => {
    const probes = jest.spyOn(OutboxStore.prototype, 'oldestAgeMs');
    const claims = jest.spyOn(OutboxStore.prototype, 'claimUnpublished');
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // about 5 polls at 200 ms
      expect(probes.mock.calls.length).toBeGreaterThanOrEqual(3);
      expect(claims).not.toHaveBeenCalled();
    } finally {
      probes.mockRestore();
      claims.mockRestore();
    }
  });

  it('leaves a row another process committed alone while it is young, then publishes it exactly as stored and deletes it', async () => {
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
    await env.query(`INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at) VALUES ($1, 'saga.inventory', $2, $3, now())`, [sagaId, body, properties]);

    await new Promise((resolve) => setTimeout(resolve, CLAIM_AFTER_MS / 2));
    expect(await env.outboxSize()).toBe(1); // the relay polled several times meanwhile and left it
    const message = await published('saga.inventory', (m) => m.properties.correlationId === properties.correlationId);
    expect(Date.now() - committedAt).toBeGreaterThanOrEqual(CLAIM_AFTER_MS);
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

  it('publishes the first command of a saga started over HTTP from memory, before the relay may claim it, in the Nest RMQ shape, and deletes its row', async () => {
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

/**
 * The relay does not wait a whole poll for rows it knows about, with OUTBOX_POLL_MS=60000 and
 * OUTBOX_CLAIM_AFTER_MS=1000: a probe that finds a row too young to claim comes back when the
 * row is old enough (a reconnect after a broker outage finds the commands that failed during
 * it), and a publish of this process that failed (wakeFor) brings the relay back about
 * OUTBOX_CLAIM_AFTER_MS later. Without either, these rows would wait for the next poll.
 */
describe('outbox relay wake-ups, with a one-minute poll', () => {
  const LONG_POLL_MS = 60_000;
  const CLAIM_MS = 1_000;
  let env: OrchestratorEnvironment;
  let app: INestApplication;

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('relay-wake');
    app = await env.start({ OUTBOX_POLL_MS: String(LONG_POLL_MS), OUTBOX_CLAIM_AFTER_MS: String(CLAIM_MS) });
  });

  afterAll(async () => {
    await env?.close();
  });

  async function orphanRow(): Promise<{ messageId: string; committedAt: number }> {
    const sagaId = randomUUID();
    const messageId = `${sagaId}/create-order/action`;
    const properties = { messageId, correlationId: `${messageId}/1`, replyTo: 'saga.replies', persistent: true, headers: { 'x-saga-id': sagaId } };
    const committedAt = Date.now();
    await env.query(`INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at) VALUES ($1, 'saga.order', $2, $3, now())`, [
      sagaId,
      { pattern: 'order.create', id: messageId },
      properties,
    ]);
    return { messageId, committedAt };
  }

  async function publishedAfter(messageId: string): Promise<number> {
    const seen: GetMessage[] = [];
    await waitFor(
      async () => {
        seen.push(...(await drain(env.amqpUrl, 'saga.order')));
        return seen.some((message) => message.properties.messageId === messageId);
      },
      `${messageId} on saga.order`,
      10_000,
      20,
    );
    return Date.now();
  }

  it('a probe that finds a row too young to claim runs again when it is old enough', async () => {
    const { messageId, committedAt } = await orphanRow();
    app.get(OutboxRelay).wakeFor(committedAt - CLAIM_MS); // an immediate run, as after a reconnect: the row is young
    const at = await publishedAfter(messageId);
    expect(at - committedAt).toBeGreaterThanOrEqual(CLAIM_MS);
    expect(at - committedAt).toBeLessThan(CLAIM_MS + 3_000);
    await waitFor(async () => (await env.outboxSize()) === 0, 'the row to be deleted', 5_000);
  });

  it('a failed publish of this process brings the relay back once the row may be claimed', async () => {
    const { messageId, committedAt } = await orphanRow();
    app.get(OutboxRelay).wakeFor(committedAt);
    const at = await publishedAfter(messageId);
    expect(at - committedAt).toBeGreaterThanOrEqual(CLAIM_MS);
    expect(at - committedAt).toBeLessThan(CLAIM_MS + 3_000);
    await waitFor(async () => (await env.outboxSize()) === 0, 'the row to be deleted', 5_000);
  });
});
