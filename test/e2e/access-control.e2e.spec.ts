/**
 * Who may call what, against the real orchestrator (PostgreSQL, RabbitMQ): every endpoint with
 * no token (401), an unknown token (401), each role (403 or its answer). Also: the orchestrator
 * refuses to start without tokens unless AUTH_DISABLED=true, and says why without repeating a
 * token; a cancel is recorded with the token's name; DOCS_PUBLIC and METRICS_PUBLIC open those
 * two routes, nothing else.
 */
import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { startOrchestrator } from '../../apps/orchestrator/src/bootstrap';
import { OrchestratorEnvironment, PLACE_ORDER_INPUT } from '../adapters/orchestrator-under-test';

const TOKENS = {
  viewer: 'viewer-token-0123456789abcdef',
  client: 'client-token-0123456789abcdef',
  operator: 'operator-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef',
} as const;
type Role = keyof typeof TOKENS;
const ROLES = Object.keys(TOKENS) as Role[];

const AUTH_TOKENS = JSON.stringify([
  { name: 'vera', role: 'viewer', token: TOKENS.viewer },
  { name: 'shop', role: 'client', token: TOKENS.client },
  // An operator known by the SHA-256 of its token only.
  { name: 'olga', role: 'operator', sha256: createHash('sha256').update(TOKENS.operator).digest('hex') },
  { name: 'ada', role: 'admin', token: TOKENS.admin },
]);

let environment: OrchestratorEnvironment;
let app: INestApplication;
let sagaId: string;

const http = () => request(app.getHttpServer());
const as = (role: Role) => ({ Authorization: `Bearer ${TOKENS[role]}` });

beforeAll(async () => {
  environment = await OrchestratorEnvironment.create('access');
  app = await environment.start({ AUTH_DISABLED: 'false', AUTH_TOKENS, RATE_LIMIT_ACTIONS: '1000' });
  sagaId = (await http().post('/sagas/place-order').set(as('client')).send(PLACE_ORDER_INPUT).expect(202)).body.id;
});

afterAll(async () => {
  await environment?.close();
});

const EVERY_ROLE: Role[] = ['viewer', 'client', 'operator', 'admin'];
const OPERATOR_ROLES: Role[] = ['operator', 'admin'];
const NO_SAGA = '00000000-0000-4000-8000-000000000000';

/** Each endpoint, and which roles it answers (the others get 403). */
const routes: { route: string; call: () => request.Test; allowed: Role[]; ok: number }[] = [
  { route: 'POST /sagas/{name}', call: () => http().post('/sagas/place-order').send(PLACE_ORDER_INPUT), allowed: ['client', 'operator', 'admin'], ok: 202 },
  { route: 'GET /sagas/{id}', call: () => http().get(`/sagas/${sagaId}`), allowed: ['viewer', 'client', 'operator', 'admin'], ok: 200 },
  { route: 'GET /sagas/{id}/history', call: () => http().get(`/sagas/${sagaId}/history`), allowed: ['viewer', 'client', 'operator', 'admin'], ok: 200 },
  { route: 'GET /sagas', call: () => http().get('/sagas'), allowed: ['viewer', 'operator', 'admin'], ok: 200 },
  { route: 'GET /sagas/counts', call: () => http().get('/sagas/counts'), allowed: ['viewer', 'operator', 'admin'], ok: 200 },
  { route: 'GET /definitions', call: () => http().get('/definitions'), allowed: ['viewer', 'client', 'operator', 'admin'], ok: 200 },
  { route: 'GET /definitions/{name}', call: () => http().get('/definitions/place-order'), allowed: ['viewer', 'client', 'operator', 'admin'], ok: 200 },
  { route: 'GET /definitions/{name}/versions', call: () => http().get('/definitions/place-order/versions'), allowed: ['viewer', 'client', 'operator', 'admin'], ok: 200 },
  { route: 'GET /catalog', call: () => http().get('/catalog'), allowed: ['viewer', 'client', 'operator', 'admin'], ok: 200 },
  { route: 'GET /auth/me', call: () => http().get('/auth/me'), allowed: EVERY_ROLE, ok: 200 },
  { route: 'GET /health', call: () => http().get('/health'), allowed: ['viewer', 'operator', 'admin'], ok: 200 },
  { route: 'GET /metrics', call: () => http().get('/metrics'), allowed: ['viewer', 'operator', 'admin'], ok: 200 },
  { route: 'GET /definitions/{name}/versions/{version}', call: () => http().get('/definitions/place-order/versions/1'), allowed: EVERY_ROLE, ok: 200 },
  { route: 'GET /definitions/{name}/diff', call: () => http().get('/definitions/place-order/diff?from=1&to=1'), allowed: EVERY_ROLE, ok: 200 },
  { route: 'POST /definitions', call: () => http().post('/definitions').send({ name: 'x' }), allowed: ['admin'], ok: 400 },
  // Changes, each on a saga or dead letter that does not exist (404 for who may) or as a dry run.
  ...(['cancel', 'retry-compensation', 'skip-compensation', 'resolve', 'fire-timer', 'retry-step'] as const).map((action) => ({
    route: `POST /sagas/{id}/${action}`,
    call: () =>
      http()
        .post(`/sagas/${NO_SAGA}/${action}`)
        .send(action.endsWith('-step') || action === 'skip-compensation' ? { reason: 'access test', step: 'reserve-inventory' } : { reason: 'access test' }),
    allowed: OPERATOR_ROLES,
    ok: 404,
  })),
  ...(['cancel', 'retry-compensation', 'retry-step'] as const).map((action) => ({
    route: `POST /sagas/bulk/${action}`,
    call: () => http().post(`/sagas/bulk/${action}?name=place-order`).send({ reason: 'access test' }),
    allowed: OPERATOR_ROLES,
    ok: 200,
  })),
  { route: 'GET /dead-letters', call: () => http().get('/dead-letters'), allowed: OPERATOR_ROLES, ok: 200 },
  { route: 'GET /dead-letters/counts', call: () => http().get('/dead-letters/counts'), allowed: OPERATOR_ROLES, ok: 200 },
  { route: 'GET /dead-letters/{id}', call: () => http().get('/dead-letters/987654'), allowed: OPERATOR_ROLES, ok: 404 },
  { route: 'POST /dead-letters/replay', call: () => http().post('/dead-letters/replay').send({ reason: 'access test', dryRun: true }), allowed: OPERATOR_ROLES, ok: 200 },
  { route: 'POST /dead-letters/{id}/replay', call: () => http().post('/dead-letters/987654/replay').send({ reason: 'access test' }), allowed: OPERATOR_ROLES, ok: 404 },
  { route: 'POST /dead-letters/{id}/discard', call: () => http().post('/dead-letters/987654/discard').send({ reason: 'access test' }), allowed: OPERATOR_ROLES, ok: 404 },
];

/** Routes open without a token (tested below), beside the table above. */
const PUBLIC_ROUTES = ['GET /health/live', 'GET /health/ready'];

it('covers every route of the OpenAPI document, so no endpoint ships without its role test', async () => {
  const openapi = (await http().get('/docs-json').expect(200)).body as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(openapi.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
  expect(documented.sort()).toEqual([...routes.map((route) => route.route), ...PUBLIC_ROUTES].sort());
});

describe.each(routes)('$route', ({ call, allowed, ok }) => {
  it('is 401 without a token, with an unknown token and with another scheme', async () => {
    const none = await call().expect(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(none.body).toMatchObject({ statusCode: 401, message: expect.stringContaining('Authorization: Bearer') });
    const unknown = await call().set({ Authorization: 'Bearer not-a-token-anybody-gave' }).expect(401);
    expect(unknown.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    await call()
      .set({ Authorization: `Basic ${Buffer.from(`ada:${TOKENS.admin}`).toString('base64')}` })
      .expect(401);
  });

  it.each(ROLES)('answers the %s role as it may', async (role) => {
    const response = await call().set(as(role));
    if (allowed.includes(role)) {
      expect(response.status).toBe(ok);
    } else {
      expect(response.status).toBe(403);
      expect(response.body.message).toBe(`role "${role}" may not do this; allowed: ${allowed.join(', ')}`);
    }
  });
});

describe('POST /sagas/{id}/cancel', () => {
  it('is for operators and admins, and records who cancelled', async () => {
    const running = (await http().post('/sagas/place-order').set(as('client')).send(PLACE_ORDER_INPUT).expect(202)).body.id;
    await http().post(`/sagas/${running}/cancel`).send({ reason: 'customer asked' }).expect(401);
    await http().post(`/sagas/${running}/cancel`).set(as('viewer')).send({ reason: 'customer asked' }).expect(403);
    await http().post(`/sagas/${running}/cancel`).set(as('client')).send({ reason: 'customer asked' }).expect(403);
    await http().post(`/sagas/${running}/cancel`).set(as('operator')).send({ reason: 'customer asked' }).expect(202);
    const saga = (await http().get(`/sagas/${running}`).set(as('viewer')).expect(200)).body;
    expect(saga.history).toContainEqual(expect.objectContaining({ type: 'CANCEL_REQUESTED', reason: 'customer asked', detail: { by: 'olga' } }));
  });
});

describe('routes open without a token', () => {
  it('serves the liveness and readiness probes, and the OpenAPI document by default', async () => {
    expect((await http().get('/health/live').expect(200)).body).toEqual({ status: 'ok' });
    expect((await http().get('/health/ready').expect(200)).body).toEqual({ status: 'ok', database: true, broker: true });
    const openapi = (await http().get('/docs-json').expect(200)).body;
    expect(openapi.components.securitySchemes).toEqual({ bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }) });
    expect(openapi.paths['/sagas'].get.responses).toEqual(expect.objectContaining({ 401: expect.anything(), 403: expect.anything() }));
    expect(openapi.paths['/sagas'].get.responses[403].description).toBe("The token's role may not call this. Allowed roles: viewer, operator, admin");
  });

  it('closes the OpenAPI document with DOCS_PUBLIC=false, and opens only /metrics with METRICS_PUBLIC=true', async () => {
    const other = await environment.start({ AUTH_DISABLED: 'false', AUTH_TOKENS, DOCS_PUBLIC: 'false', METRICS_PUBLIC: 'true' });
    const call = () => request(other.getHttpServer());
    await call().get('/docs-json').expect(401);
    await call().get('/docs').expect(401);
    await call().get('/docs-json').set(as('client')).expect(200);
    expect((await call().get('/metrics').expect(200)).text).toContain('saga_started_total');
    await call().get('/health').expect(401);
    await call().get('/sagas').expect(401);
  });
});

describe('starting', () => {
  const base = () => ({ PORT: '0', DATABASE_URL: environment.databaseUrl, AMQP_URL: environment.amqpUrl, SAGA_DEFINITIONS_DIR: '/nonexistent-definitions-dir' });

  it('refuses to start with neither tokens nor AUTH_DISABLED=true, and with both', async () => {
    await expect(startOrchestrator({ env: base(), logger: false })).rejects.toThrow(/AUTH_TOKENS \(or AUTH_TOKENS_FILE\) is not set.*AUTH_DISABLED=true/s);
    await expect(startOrchestrator({ env: { ...base(), AUTH_DISABLED: 'true', AUTH_TOKENS }, logger: false })).rejects.toThrow(/AUTH_DISABLED=true and AUTH_TOKENS are both set/);
  });

  it('names a bad entry without repeating its token', async () => {
    const bad = JSON.stringify([{ name: 'x', role: 'superuser', token: 'a-secret-that-must-not-leak' }]);
    const refusal = startOrchestrator({ env: { ...base(), AUTH_TOKENS: bad }, logger: false });
    await expect(refusal).rejects.toThrow(/AUTH_TOKENS\[0\]: role/);
    await expect(refusal).rejects.not.toThrow(/a-secret-that-must-not-leak/);
  });

  it('lets every caller act as an admin only with AUTH_DISABLED=true', async () => {
    const open = await environment.start({ AUTH_DISABLED: 'true' });
    await request(open.getHttpServer()).get('/sagas').expect(200);
  });
});
