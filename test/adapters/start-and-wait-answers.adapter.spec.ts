/**
 * A start that waits for its saga to end (POST /sagas/{name}?waitMs) is answered from what this
 * process committed of the saga (runtime saga-trails.ts), without reading it back, and the
 * answer is exactly GET /sagas/{id}: the same JSON text, key order included.
 *
 * Proves, on the real PostgreSQL and RabbitMQ with a scripted participant: the answer of a saga
 * that completes, one that retries (timers set, cancelled and fired) and one that compensates is
 * the GET text and comes from the commits (saga_wait_answers_total{from="commits"}); an input
 * whose keys jsonb reorders (non-ASCII, integer-like, nested) comes back as PostgreSQL returns it;
 * a duplicate reply written in the middle of the saga (a version this process did not record),
 * a second replica handling some of the replies, and a history longer than HISTORY_LIMIT make
 * the answer a read, still equal to GET.
 */
import { connect, type ChannelModel } from 'amqplib';
import { replyBody } from '#saga/core';
import { asJsonb } from '../../apps/orchestrator/src/api/sagas/trail-saga-view';
import { waitFor } from '../support/infra';
import { ScriptedParticipant, type PlannedReply } from '../support/scripted-participant';
import { scriptedSaga, scriptedStep } from '../support/scripted-sagas';
import { OrchestratorEnvironment } from './orchestrator-under-test';

const QUEUE = 'saga.scripted';
const COMMANDS = ['a.do', 'a.undo', 'b.do', 'b.undo', 'c.do'];
const files = {
  'scripted.participants.json': { participants: { scripted: { queue: QUEUE, commands: COMMANDS } } },
  'chain.saga.json': scriptedSaga('chain', [scriptedStep('a'), scriptedStep('b'), scriptedStep('c', { undo: false })]),
};

type Plan = Record<string, PlannedReply[]>;

/** Keys PostgreSQL's jsonb puts in another order than they were written in. */
const UNORDERED = { zebra: 1, é: { b: 1, a: [{ yy: 1, x: 2 }] }, 10: true, a: null, '😀k': 2, '\uFFFDk': 3, '2': 'two', ab: undefined };

describe('start-and-wait answers from this process', () => {
  let env: OrchestratorEnvironment;
  let participant: ScriptedParticipant;
  let brokerConnection: ChannelModel;

  beforeAll(async () => {
    env = await OrchestratorEnvironment.create('wait-answers', files);
    await env.start();
    participant = await ScriptedParticipant.start(env.amqpUrl, QUEUE);
    brokerConnection = await connect(env.amqpUrl);
  });

  afterAll(async () => {
    await brokerConnection?.close().catch(() => undefined);
    await participant?.close();
    await env?.close();
  });

  const answers = async (): Promise<Record<string, number>> => {
    const text = (await env.http().get('/metrics').expect(200)).text;
    const count = (from: string) => Number(new RegExp(`^saga_wait_answers_total\\{from="${from}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { commits: await count('commits'), read: await count('read') };
  };

  /** Starts and waits; returns the answer's text and GET's text of the same saga. */
  async function startAndRead(input: Record<string, unknown>): Promise<{ posted: string; read: string; body: { id: string; status: string; history: { type: string }[] } }> {
    const answer = await env.http().post('/sagas/chain?waitMs=20000').send(input).expect(200);
    const read = await env.http().get(`/sagas/${answer.body.id}`).expect(200);
    return { posted: answer.text, read: read.text, body: answer.body };
  }

  it('keeps JSON as PostgreSQL gives jsonb back: key order, integer-like and non-ASCII keys, undefined left out', async () => {
    const values: unknown[] = [
      UNORDERED,
      [UNORDERED, 1.5, 'x', undefined, -0, 1e21, 0.1 + 0.2],
      { nested: { deeper: { zz: 1, a: 2 } }, gone: undefined, minusZero: -0, at: new Date(5) },
      'text',
      0,
      null,
      JSON.parse('{"zz": 1, "__proto__": {"b": 1, "a": 2}}'),
    ];
    for (const value of values) {
      const [row] = await env.query<{ value: unknown }>('SELECT $1::jsonb AS value', [JSON.stringify(value)]);
      expect(JSON.stringify(asJsonb(value))).toBe(JSON.stringify(row.value));
    }
    expect(asJsonb(undefined)).toBeNull();
  });

  it.each<[string, Plan, string]>([
    ['completes', {}, 'COMPLETED'],
    ['retries a step (timers set, cancelled and fired) and completes', { 'b.do': ['retry', 'ok'], 'c.do': ['silent', 'ok'] }, 'COMPLETED'],
    ['compensates', { 'c.do': ['fail'] }, 'COMPENSATED'],
  ])('answers a saga that %s from its commits, with exactly the text GET returns', async (_title, plan, status) => {
    const before = await answers();
    const { posted, read, body } = await startAndRead({ plan, ...UNORDERED });
    expect(body.status).toBe(status);
    expect(posted).toBe(read);
    expect(await answers()).toEqual({ commits: before.commits + 1, read: before.read });
  });

  it('keeps an input key named __proto__ as JSON.parse made it: stored, answered and read back as an own key', async () => {
    const text = '{"plan": {}, "ref": "proto", "__proto__": {"polluted": true}}';
    const answer = await env.http().post('/sagas/chain?waitMs=20000').set('Content-Type', 'application/json').send(text).expect(200);
    const read = await env.http().get(`/sagas/${answer.body.id}`).expect(200);
    expect(answer.text).toBe(read.text);
    for (const body of [answer.body, read.body] as { input: Record<string, unknown> }[]) {
      expect(Object.keys(body.input)).toContain('__proto__');
      expect(JSON.stringify(body.input)).toContain('"__proto__":{"polluted":true}');
    }
    const [row] = await env.query<{ input: string }>('SELECT input::text AS input FROM saga_instances WHERE id = $1', [answer.body.id]);
    expect(row.input).toContain('"__proto__": {"polluted": true}');
  });

  it('reads the saga when a write of it was not recorded here (a duplicate reply in the middle), and answers the same as GET', async () => {
    const before = await answers();
    // b stays silent on its first attempt (400 ms timeout): the duplicate of a's reply lands meanwhile.
    const posting = startAndRead({ plan: { 'b.do': ['silent', 'ok'] }, ref: 'dup' });
    const [{ id }] = await waitFor(async () => {
      const rows = await env.query<{ id: string }>(`SELECT id FROM saga_instances WHERE input->>'ref' = 'dup'`);
      return rows.length > 0 && rows;
    }, 'the saga to be stored');
    await waitFor(async () => participant.received.some((item) => item.command.sagaId === id && item.command.pattern === 'b.do'), 'b.do sent');
    const first = participant.received.find((item) => item.command.sagaId === id && item.command.pattern === 'a.do')!;
    const channel = await brokerConnection.createChannel();
    channel.sendToQueue(first.command.replyTo, Buffer.from(JSON.stringify(replyBody({ kind: 'success', result: { by: 'a.do', attempt: 1 } }))), {
      correlationId: first.command.correlationId,
    });
    await channel.close();
    const { posted, read, body } = await posting;
    expect(body.status).toBe('COMPLETED');
    expect(body.history.map((entry) => entry.type)).toContain('DUPLICATE_REPLY_IGNORED');
    expect(posted).toBe(read);
    expect(await answers()).toEqual({ commits: before.commits, read: before.read + 1 });
  });

  it('with a second replica taking some of the replies, every answer is still exactly GET, read when this replica missed a version', async () => {
    const replica = await env.start();
    try {
      const before = await answers();
      const runs = await Promise.all(Array.from({ length: 20 }, (_, n) => startAndRead({ plan: {}, n })));
      for (const { posted, read, body } of runs) {
        expect(body.status).toBe('COMPLETED');
        expect(posted).toBe(read);
      }
      const after = await answers();
      expect(after.commits - before.commits + after.read - before.read).toBe(20);
      // 60 replies shared by two consumers: this replica missed some saga's version.
      expect(after.read - before.read).toBeGreaterThan(0);
    } finally {
      await replica.close();
      env.apps.splice(env.apps.indexOf(replica), 1);
    }
  });

  it('reads the saga when its history is longer than HISTORY_LIMIT (the answer pages it like GET)', async () => {
    // The only replica from now on, so every write of the saga is its own: only the length counts.
    await env.apps.splice(0, 1)[0].close();
    await env.start({ HISTORY_LIMIT: '4' });
    const before = await answers();
    const { posted, read, body } = await startAndRead({ plan: {} });
    expect(body.history).toHaveLength(4);
    expect(JSON.parse(posted)).toMatchObject({ historyTotal: 8, historyNext: expect.any(String) });
    expect(posted).toBe(read);
    expect(await answers()).toEqual({ commits: before.commits, read: before.read + 1 });
  });
});
