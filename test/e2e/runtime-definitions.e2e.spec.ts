/**
 * Definitions registered at run time, against the real orchestrator (PostgreSQL, RabbitMQ); the
 * test plays the participant by reading its queue and answering on the reply queue.
 *
 * Proves: v2 registered (POST /definitions) while a v1 saga is in flight: the v1 saga finishes on
 * v1's one step, a new saga runs v2's two steps, each GET /sagas/{id} names its version and
 * fingerprint; a second replica on the same database sees v2 within its refresh; the same
 * content again is 200, other content 409 naming both fingerprints, an invalid definition 400
 * with paths, an unknown command 400, viewers and operators 403 (the admin's name is recorded);
 * the diff of v1 and v2; and a saga whose version is not loaded is reported (boot log aside:
 * /health and the metric) while /health/ready stays ready; a reply for it waits (retried, not
 * applied) and goes through once the version is registered again.
 */
import type { INestApplication } from '@nestjs/common';
import type { GetMessage } from 'amqplib';
import request from 'supertest';
import { waitFor } from '../support/infra';
import { drain, json, sendConfirmed } from '../adapters/broker-probe';
import { OrchestratorEnvironment, type SagaRead } from '../adapters/orchestrator-under-test';

const QUEUE = 'saga.silent';
const v1 = { name: 'ship', version: 1, inputSchema: { type: 'object' }, steps: [{ name: 'pack', action: { command: 'silent.pack' }, timeoutMs: 600_000 }] };
const v2 = {
  name: 'ship',
  version: 2,
  description: 'pack, then send',
  inputSchema: { type: 'object' },
  defaults: { timeoutMs: 600_000 },
  steps: [
    { name: 'pack', action: { command: 'silent.pack' }, compensation: { command: 'silent.unpack' } },
    { name: 'send', action: { command: 'silent.send' } },
  ],
};

const TOKENS = { viewer: 'viewer-token-0123456789abcdef', operator: 'operator-token-0123456789abcdef', admin: 'admin-token-0123456789abcdef' } as const;
const AUTH_TOKENS = JSON.stringify([
  { name: 'vera', role: 'viewer', token: TOKENS.viewer },
  { name: 'olga', role: 'operator', token: TOKENS.operator },
  { name: 'ada', role: 'admin', token: TOKENS.admin },
]);

let environment: OrchestratorEnvironment;
let one: INestApplication;
let two: INestApplication;
const seen: GetMessage[] = [];

beforeAll(async () => {
  environment = await OrchestratorEnvironment.create('runtime-defs', {
    'silent.participants.json': { participants: { silent: { queue: QUEUE, commands: ['silent.pack', 'silent.unpack', 'silent.send'] } } },
    'ship-v1.saga.json': v1,
  });
  one = await environment.start({ DEFINITIONS_REFRESH_MS: '200' });
  two = await environment.start({ DEFINITIONS_REFRESH_MS: '200' });
});

afterAll(async () => {
  await environment?.close();
});

/** The commands sent for saga `id` so far, once there are `count` of them. */
async function commandsFor(id: string, count: number): Promise<GetMessage[]> {
  return waitFor(async () => {
    seen.push(...(await drain(environment.amqpUrl, QUEUE)));
    const mine = seen.filter((message) => message.properties.headers?.['x-saga-id'] === id);
    return mine.length >= count ? mine : undefined;
  }, `${count} commands of saga ${id}`);
}

async function reply(command: GetMessage, response: unknown = { ok: true }): Promise<void> {
  await sendConfirmed(environment.amqpUrl, 'saga.replies', Buffer.from(JSON.stringify({ response, isDisposed: true })), { correlationId: command.properties.correlationId });
}

const read = async (id: string, waitMs = 0): Promise<SagaRead & { definition: { name: string; version: number; fingerprint: string | null } }> =>
  (
    await environment
      .http(one)
      .get(`/sagas/${id}${waitMs ? `?waitMs=${waitMs}` : ''}`)
      .expect(200)
  ).body;

describe('a version registered while sagas of the old one are in flight', () => {
  it('lets each saga finish on its own version, on every replica', async () => {
    const old = await environment.startSaga('ship', {}, one);
    const [pack1] = await commandsFor(old, 1);

    const created = await environment.http(one).post('/definitions').send(v2).expect(201);
    expect(created.body).toEqual({
      name: 'ship',
      version: 2,
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
      source: 'api',
      registeredBy: 'auth-disabled',
      registeredAt: expect.any(String),
    });
    const fresh = await environment.startSaga('ship', {}, one); // the latest: v2, at once on the replica that registered it
    const openApi = (await environment.http(one).get('/docs-json').expect(200)).body;
    expect(openApi.components.schemas.SagaInput_ship.description).toBe('Input of ship@2');

    // The other replica picks v2 up from the database within its refresh.
    await waitFor(async () => (await environment.http(two).get('/definitions/ship').expect(200)).body.definition.version === 2, 'replica two to load v2', 10_000);
    const onTwo = (await environment.http(two).post('/sagas/ship?version=2').send({}).expect(202)).body;
    expect(onTwo.version).toBe(2);

    await reply(pack1);
    const oldDone = await read(old, 10_000);
    expect(oldDone.status).toBe('COMPLETED');
    expect(oldDone.steps.map((s) => s.name)).toEqual(['pack']);
    const v1Fingerprint = (await environment.http(one).get('/definitions/ship/versions/1').expect(200)).body.fingerprint;
    expect(oldDone.definition).toEqual({ name: 'ship', version: 1, fingerprint: v1Fingerprint });

    const [pack2] = await commandsFor(fresh, 1);
    await reply(pack2);
    const [, send2] = await commandsFor(fresh, 2);
    expect([json(pack2).pattern, json(send2).pattern]).toEqual(['silent.pack', 'silent.send']);
    await reply(send2);
    const freshDone = await read(fresh, 10_000);
    expect(freshDone.status).toBe('COMPLETED');
    expect(freshDone.steps.map((s) => s.name)).toEqual(['pack', 'send']);
    expect(freshDone.definition).toEqual({ name: 'ship', version: 2, fingerprint: created.body.fingerprint });
    // The v1 saga sent one command in all.
    expect((await commandsFor(old, 1)).map((m) => json(m).pattern)).toEqual(['silent.pack']);
  });

  it('answers the same content 200, other content 409, a bad definition 400 with paths', async () => {
    const reordered = JSON.parse(JSON.stringify({ steps: v2.steps, defaults: v2.defaults, inputSchema: v2.inputSchema, description: v2.description, version: 2, name: 'ship' }));
    const same = await environment.http(two).post('/definitions').send(reordered).expect(200);
    expect(same.body).toMatchObject({ version: 2, source: 'api', registeredBy: 'auth-disabled' });

    const conflict = await environment
      .http(two)
      .post('/definitions')
      .send({ ...v2, description: 'something else' })
      .expect(409);
    expect(conflict.body.message).toContain('ship@2');
    expect(conflict.body.message).toContain(same.body.fingerprint);
    expect(conflict.body.message).toContain('bump the version');
    expect(conflict.body.fingerprints).toEqual({ stored: same.body.fingerprint, offered: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const invalid = await environment
      .http(one)
      .post('/definitions')
      .send({ name: 'ship', version: 3, inputSchema: { type: 'object' }, steps: [{ name: 'pack' }] })
      .expect(400);
    expect(invalid.body).toMatchObject({ statusCode: 400, message: 'Invalid saga definition' });
    expect(invalid.body.errors).toContainEqual({ field: 'steps[0].action', message: expect.any(String) });

    const unknownCommand = await environment
      .http(one)
      .post('/definitions')
      .send({ ...v1, version: 3, steps: [{ name: 'fly', action: { command: 'drone.fly' }, timeoutMs: 1000 }] })
      .expect(400);
    expect(unknownCommand.body.errors).toEqual([{ field: 'steps[0].action.command', message: expect.stringContaining('drone.fly') }]);
    await environment.http(one).get('/definitions/ship/versions/3').expect(404);
  });

  it('diffs two versions, with the unfinished sagas of each', async () => {
    const diff = (await environment.http(one).get('/definitions/ship/diff?from=1&to=2').expect(200)).body;
    expect(diff).toMatchObject({
      name: 'ship',
      from: { version: 1, unfinishedSagas: 0 },
      to: { version: 2, unfinishedSagas: 1 }, // the saga started on replica two still waits for its first reply
      identical: false,
      fields: [
        { path: 'defaults', kind: 'added', to: { timeoutMs: 600_000 } },
        { path: 'description', kind: 'added', to: 'pack, then send' },
      ],
      steps: {
        added: [{ name: 'send', position: 1 }],
        removed: [],
        changed: [
          {
            name: 'pack',
            fromPosition: 0,
            toPosition: 0,
            changes: [
              { path: 'compensation', kind: 'added', to: { command: 'silent.unpack' } },
              { path: 'timeoutMs', kind: 'removed', from: 600_000 },
            ],
          },
        ],
      },
    });
    await environment.http(one).get('/definitions/ship/diff?from=1&to=9').expect(404);
    await environment.http(one).get('/definitions/ship/diff?from=1').expect(400);
  });

  it('lets only admins register, and records who did', async () => {
    const secured = await environment.start({ AUTH_DISABLED: 'false', AUTH_TOKENS });
    const v4 = { ...v1, version: 4 };
    for (const role of ['viewer', 'operator'] as const) {
      const refused = await request(secured.getHttpServer())
        .post('/definitions')
        .set({ Authorization: `Bearer ${TOKENS[role]}` })
        .send(v4)
        .expect(403);
      expect(refused.body.message).toBe(`role "${role}" may not do this; allowed: admin`);
    }
    await request(secured.getHttpServer()).post('/definitions').send(v4).expect(401);
    const created = await request(secured.getHttpServer())
      .post('/definitions')
      .set({ Authorization: `Bearer ${TOKENS.admin}` })
      .send(v4)
      .expect(201);
    expect(created.body).toMatchObject({ version: 4, registeredBy: 'ada' });
    expect(await environment.query('SELECT registered_by, source FROM saga_definitions WHERE name = $1 AND version = 4', ['ship'])).toEqual([
      { registered_by: 'ada', source: 'api' },
    ]);
  });
});

describe('a saga whose definition version is not loaded', () => {
  it('is reported in /health and the metric, keeps readiness, and resumes once the version is registered', async () => {
    const v5 = { ...v1, version: 5, description: 'to be lost' };
    await environment.http(one).post('/definitions').send(v5).expect(201);
    const id = await environment.startSaga('ship', {}, one);
    expect((await read(id)).definition.version).toBe(5);
    const [pack] = await commandsFor(id, 1);

    // The version disappears (a database restored from before it, say) and the only replica left
    // restarts without it.
    for (const app of environment.apps.splice(0)) await app.close();
    await environment.query('DELETE FROM saga_definitions WHERE name = $1 AND version = 5', ['ship']);
    const restarted = await environment.start({ DEFINITIONS_REFRESH_MS: '200' });
    const http = () => request(restarted.getHttpServer());
    await http().get('/definitions/ship/versions/5').expect(404);

    const health = (await http().get('/health').expect(200)).body;
    expect(health).toMatchObject({ status: 'ok', definitionsMissing: [{ name: 'ship', version: 5, sagas: 1 }] });
    expect((await http().get('/health/ready').expect(200)).body.status).toBe('ok');
    expect((await http().get('/metrics').expect(200)).text).toMatch(/^saga_definition_missing_sagas\{name="ship",version="5"\} 1$/m);

    // Its reply cannot be applied yet: it is kept (returned to the queue, retried), the saga waits.
    await reply(pack);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect((await http().get(`/sagas/${id}`).expect(200)).body.status).toBe('RUNNING');

    // Registered again: loaded at once, no longer reported, and the retried reply goes through.
    await http().post('/definitions').send(v5).expect(201);
    expect((await http().get('/health').expect(200)).body.definitionsMissing).toEqual([]);
    expect((await http().get('/metrics').expect(200)).text).not.toMatch(/saga_definition_missing_sagas\{/);
    const done = (await http().get(`/sagas/${id}?waitMs=10000`).expect(200)).body;
    expect(done.status).toBe('COMPLETED');
    expect(done.definition).toMatchObject({ name: 'ship', version: 5 });
  });
});
