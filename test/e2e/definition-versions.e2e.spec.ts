/**
 * Definition versions through the API, against the real orchestrator: every loaded version is
 * listed and readable, a saga can be started on an explicit version (or the latest), an unknown
 * version is a 404 that starts nothing, and the participant catalog lives at /catalog, where no
 * saga name can shadow it (a saga named "catalog" is reachable like any other).
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { OrchestratorEnvironment } from '../adapters/orchestrator-under-test';

const step = (command: string) => ({ name: 'do-it', action: { command }, timeoutMs: 60_000 });
const saga = (name: string, version: number, description: string) => ({ name, version, description, inputSchema: { type: 'object' }, steps: [step('silent.do')] });

let environment: OrchestratorEnvironment;
let app: INestApplication;
const http = () => request(app.getHttpServer());

beforeAll(async () => {
  environment = await OrchestratorEnvironment.create('versions', {
    'silent.participants.json': { participants: { silent: { queue: 'saga.silent', commands: ['silent.do'] } } },
    'ship-v1.saga.json': saga('ship', 1, 'first'),
    'ship-v2.saga.json': saga('ship', 2, 'second'),
    'catalog.saga.json': saga('catalog', 1, 'a saga that happens to be named catalog'),
  });
  app = await environment.start();
});

afterAll(async () => {
  await environment?.close();
});

it('lists every version of a definition and serves each one', async () => {
  const versions = (await http().get('/definitions/ship/versions').expect(200)).body;
  const origin = (file: string) => ({
    fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
    source: `${environment.definitionsDir}/${file}`,
    registeredBy: 'boot',
    registeredAt: expect.any(String),
  });
  expect(versions).toEqual([
    { name: 'ship', version: 1, description: 'first', steps: ['do-it'], ...origin('ship-v1.saga.json') },
    { name: 'ship', version: 2, description: 'second', steps: ['do-it'], ...origin('ship-v2.saga.json') },
  ]);
  expect(versions[0].fingerprint).not.toBe(versions[1].fingerprint);
  const first = (await http().get('/definitions/ship/versions/1').expect(200)).body;
  expect(first.definition).toMatchObject({ name: 'ship', version: 1 });
  expect(first.routes).toEqual([{ step: 'do-it', action: { command: 'silent.do', queue: 'saga.silent' }, compensation: null }]);
  expect((await http().get('/definitions/ship').expect(200)).body.definition.version).toBe(2);
  await http().get('/definitions/ship/versions/3').expect(404);
  await http().get('/definitions/ship/versions/latest').expect(400);
  await http().get('/definitions/nothing/versions').expect(404);
});

it('starts the latest version, or the one asked for; an unknown version starts nothing', async () => {
  expect((await http().post('/sagas/ship').send({}).expect(202)).body.version).toBe(2);
  expect((await http().post('/sagas/ship?version=1').send({}).expect(202)).body.version).toBe(1);
  const before = await environment.query<{ n: number }>('SELECT count(*)::int AS n FROM saga_instances');
  const missing = await http().post('/sagas/ship?version=7').send({}).expect(404);
  expect(missing.body.message).toBe('no saga definition ship@7');
  await http().post('/sagas/ship?version=0').send({}).expect(400);
  expect(await environment.query<{ n: number }>('SELECT count(*)::int AS n FROM saga_instances')).toEqual(before);
});

it('serves the participant catalog at /catalog, and a saga named "catalog" at /definitions/catalog', async () => {
  const catalog = (await http().get('/catalog').expect(200)).body;
  expect(catalog.participants.silent).toEqual({ queue: 'saga.silent', commands: ['silent.do'] });
  expect((await http().get('/definitions/catalog').expect(200)).body.definition).toMatchObject({ name: 'catalog', description: 'a saga that happens to be named catalog' });
});
