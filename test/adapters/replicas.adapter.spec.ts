/**
 * Two orchestrator replicas (two in-process apps) sharing one PostgreSQL database and one
 * RabbitMQ vhost (docs/semantics.md S7: an outbox row is published by one replica, a timer fires once).
 *
 * Proves: 300 old outbox rows committed at once by a third connection (a replica that died
 * before publishing them), claimed by both relays polling every 100 ms, are published exactly
 * once each (no duplicate message, the two relays' counters add up to 300) and the outbox ends
 * empty; timers of 12 sagas made due at
 * the same instant, with both schedulers polling every 50 ms, each fire exactly once: one
 * ATTEMPT_TIMED_OUT and one retry command per saga, in the history and on the queue; the same
 * Idempotency-Key posted to both replicas at once starts one saga, both answers name it (one of
 * them `Idempotent-Replayed`), and the key with another input is 409 on either replica.
 */
import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { GetMessage } from 'amqplib';
import { OutboxRelay } from '../../apps/orchestrator/src/runtime/outbox-relay.service';
import { waitFor } from '../support/infra';
import { drain, withRawChannel } from './broker-probe';
import { OrchestratorEnvironment } from './orchestrator-under-test';

const QUEUE = 'saga.silent';
const slowSaga = {
  name: 'slow-timeout',
  version: 1,
  inputSchema: { type: 'object' },
  steps: [
    {
      name: 'charge',
      action: { command: 'silent.do' },
      compensation: { command: 'silent.undo' },
      timeoutMs: 60_000,
      retry: { maxAttempts: 3, backoff: { initialMs: 50, multiplier: 1, maxMs: 50 } },
    },
  ],
};

describe('two orchestrator replicas on one database and one vhost', () => {
  let env: OrchestratorEnvironment;
  let replicas: INestApplication[];

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('replicas', {
      'silent.participants.json': { participants: { silent: { queue: QUEUE, commands: ['silent.do', 'silent.undo'] } } },
      'slow.saga.json': slowSaga,
    });
    const settings = { OUTBOX_POLL_MS: '100', OUTBOX_BATCH_SIZE: '25', TIMER_POLL_MS: '50' };
    replicas = [await env.start(settings), await env.start(settings)];
  });

  afterAll(async () => {
    await env?.close();
  });

  const messageCount = (queue: string) => withRawChannel(env.amqpUrl, async (channel) => (await channel.checkQueue(queue)).messageCount);

  it('publishes each of 300 outbox rows exactly once between the two relays', async () => {
    const relays = replicas.map((app) => app.get(OutboxRelay));
    const before = relays.map((relay) => relay.published);
    const sagaId = randomUUID();
    // Rows a dead replica committed a minute ago and never published: both relays claim them.
    await env.query(
      `INSERT INTO saga_outbox (saga_id, queue, body, properties, created_at)
       SELECT $1, 'saga.payment', jsonb_build_object('pattern', 'payment.charge', 'data', n, 'id', 'm-' || n),
              jsonb_build_object('messageId', 'm-' || n, 'correlationId', 'c-' || n, 'persistent', true), now() - interval '1 minute'
         FROM generate_series(1, 300) AS n`,
      [sagaId],
    );

    await waitFor(async () => (await env.outboxSize()) === 0 && (await messageCount('saga.payment')) >= 300, 'all 300 rows to be published', 30_000);
    const messages = await drain(env.amqpUrl, 'saga.payment');
    const ids = messages.map((message) => message.properties.messageId as string);
    expect(ids).toHaveLength(300);
    expect(new Set(ids).size).toBe(300);
    const counted = relays.map((relay, i) => relay.published - before[i]);
    expect(counted[0] + counted[1]).toBe(300);
  });

  it('fires each of 12 simultaneously due timers exactly once across the two schedulers', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await env.startSaga('slow-timeout', { n: i }, replicas[i % 2]));
    const seen: GetMessage[] = [];
    const forSaga = (id: string) => seen.filter((message) => message.properties.headers?.['x-saga-id'] === id);
    await waitFor(async () => {
      seen.push(...(await drain(env.amqpUrl, QUEUE)));
      return ids.every((id) => forSaga(id).length === 1);
    }, 'the first command of every saga');

    await env.query(`UPDATE saga_timers SET fire_at = now() WHERE saga_id = ANY($1::uuid[])`, [ids]);
    await waitFor(
      async () => {
        const [row] = await env.query<{ n: number }>(
          `SELECT count(DISTINCT saga_id)::int AS n FROM saga_history WHERE saga_id = ANY($1::uuid[]) AND type = 'COMMAND_SENT' AND attempt = 2`,
          [ids],
        );
        return row.n === ids.length;
      },
      'every saga to send its second attempt',
      30_000,
    );

    const counts = await env.query<{ type: string; attempt: number; n: number }>(
      `SELECT type, attempt, count(*)::int AS n FROM saga_history
        WHERE saga_id = ANY($1::uuid[]) AND type IN ('ATTEMPT_TIMED_OUT', 'RETRY_SCHEDULED', 'COMMAND_SENT')
        GROUP BY type, attempt ORDER BY type, attempt`,
      [ids],
    );
    expect(counts).toEqual([
      { type: 'ATTEMPT_TIMED_OUT', attempt: 1, n: 12 },
      { type: 'COMMAND_SENT', attempt: 1, n: 12 },
      { type: 'COMMAND_SENT', attempt: 2, n: 12 },
      { type: 'RETRY_SCHEDULED', attempt: 2, n: 12 },
    ]);
    await waitFor(async () => {
      seen.push(...(await drain(env.amqpUrl, QUEUE)));
      return ids.every((id) => forSaga(id).length >= 2);
    }, 'the retry commands on the queue');
    for (const id of ids) {
      expect(forSaga(id).map((message) => message.properties.correlationId)).toEqual([`${id}/charge/action/1`, `${id}/charge/action/2`]);
    }
  });

  it('the same Idempotency-Key sent to both replicas at once starts one saga: both answers name it, another input is 409 on either', async () => {
    const keys = Array.from({ length: 8 }, () => `race-${randomUUID()}`);
    const post = (app: INestApplication, key: string, input: object) => env.http(app).post('/sagas/slow-timeout').set('Idempotency-Key', key).send(input);
    const answers = await Promise.all(keys.map((key, n) => Promise.all(replicas.map((app) => post(app, key, { n })))));
    for (const [n, key] of keys.entries()) {
      const pair = answers[n];
      expect(pair.map((answer) => answer.status)).toEqual([202, 202]);
      expect(pair[0].body.id).toBe(pair[1].body.id);
      expect(pair.map((answer) => answer.headers['idempotent-replayed']).sort()).toEqual(['true', undefined]); // one started it, one was told
      expect(await env.query('SELECT id FROM saga_instances WHERE idempotency_key = $1', [key])).toEqual([{ id: pair[0].body.id }]);
    }
    const conflicts = await Promise.all(replicas.map((app) => post(app, keys[0], { n: 'other' })));
    expect(conflicts.map((answer) => [answer.status, answer.body.sagaId])).toEqual([
      [409, answers[0][0].body.id],
      [409, answers[0][0].body.id],
    ]);
  });
});
