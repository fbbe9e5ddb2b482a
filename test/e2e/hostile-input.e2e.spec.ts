/**
 * Hostile input never reaches the database and never yields a 500, against the real
 * orchestrator: a JSON body not declared as JSON (415), input that jsonb or the hashing cannot
 * take (a NUL, an unpaired surrogate, 1e309, nesting 10,000 levels deep: 400 naming the field),
 * a NUL in a query or a cancel reason (400), a body that is not JSON or is too large (400, 413,
 * as JSON, not HTML). Each answer carries the request id, and nothing is stored. And the limits:
 * a token's start rate (429 + Retry-After), the body size (413) and the number of waiting
 * requests (the wait is skipped, said in a header), each configurable.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { OrchestratorEnvironment, PLACE_ORDER_INPUT } from '../adapters/orchestrator-under-test';

let environment: OrchestratorEnvironment;
let app: INestApplication;
let baseUrl: string;

const http = () => request(app.getHttpServer());
const stored = async (): Promise<number> => (await environment.query<{ n: number }>('SELECT count(*)::int AS n FROM saga_instances'))[0].n;

beforeAll(async () => {
  environment = await OrchestratorEnvironment.create('hostile');
  app = await environment.start();
  baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
});

afterAll(async () => {
  await environment?.close();
});

/** POST /sagas/place-order with a raw body and headers, as any client could send it. */
async function post(body: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; requestId: string | null; type: string | null }> {
  const response = await fetch(`${baseUrl}/sagas/place-order`, { method: 'POST', body, headers });
  const text = await response.text();
  return {
    status: response.status,
    body: JSON.parse(text) as Record<string, unknown>,
    requestId: response.headers.get('x-request-id'),
    type: response.headers.get('content-type'),
  };
}

describe('bodies', () => {
  it('answers 415 to a JSON body sent as text/plain or without a Content-Type, storing nothing', async () => {
    const before = await stored();
    const body = JSON.stringify(PLACE_ORDER_INPUT);
    for (const headers of [{ 'content-type': 'text/plain' }, {}] as Record<string, string>[]) {
      const answer = await post(body, headers);
      expect(answer.status).toBe(415);
      expect(answer.body).toMatchObject({ statusCode: 415, message: expect.stringContaining('Content-Type: application/json') });
    }
    expect(await stored()).toBe(before);
    await http().post('/sagas/place-order').send(PLACE_ORDER_INPUT).expect(202); // the same body as JSON is fine
  });

  it('answers a body that is not JSON with 400 and one that is too large with 413, as JSON with the request id', async () => {
    const before = await stored();
    const broken = await post('{"customerId": ', { 'content-type': 'application/json', 'x-request-id': 'req-broken-1' });
    expect(broken).toMatchObject({ status: 400, requestId: 'req-broken-1', body: { statusCode: 400, message: 'the request body is not valid JSON', requestId: 'req-broken-1' } });
    expect(broken.type).toMatch(/application\/json/);
    const huge = await post(JSON.stringify({ ...PLACE_ORDER_INPUT, note: 'x'.repeat(2_000_000) }), { 'content-type': 'application/json' });
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({ statusCode: 413, requestId: huge.requestId });
    expect(await stored()).toBe(before);
  });
});

describe('input values jsonb or the hashing cannot take', () => {
  const cases: [string, string, string][] = [
    ['a NUL character', '{"customerId":"c-1\\u0000","items":[{"sku":"sku-1","quantity":1}],"amount":5}', 'input.customerId'],
    ['an unpaired surrogate', '{"customerId":"a\\ud800b","items":[{"sku":"sku-1","quantity":1}],"amount":5}', 'input.customerId'],
    ['1e309 (Infinity once parsed)', '{"customerId":"c-1","items":[{"sku":"sku-1","quantity":1}],"amount":1e309}', 'input.amount'],
    [
      'a field nested 10,000 levels deep',
      `{"customerId":"c-1","items":[{"sku":"sku-1","quantity":1}],"amount":5,"extra":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      'input.extra',
    ],
  ];

  it.each(cases)('answers %s with 400 naming the field, storing nothing', async (_case, body, field) => {
    const before = await stored();
    const answer = await post(body, { 'content-type': 'application/json', 'idempotency-key': `hostile-${field}` });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ statusCode: 400, errors: [expect.objectContaining({ field: expect.stringContaining(field) })], requestId: answer.requestId });
    expect(await stored()).toBe(before);
  });
});

describe('query and body fields', () => {
  it('answers a NUL in the list filter and in a cancel reason with 400, not a database error', async () => {
    const list = await http().get('/sagas?name=%00').expect(400);
    expect(list.body.errors).toEqual([expect.objectContaining({ field: 'name' })]);
    const id = (await http().post('/sagas/place-order').send(PLACE_ORDER_INPUT).expect(202)).body.id;
    const cancel = await http().post(`/sagas/${id}/cancel`).send({ reason: 'because\u0000' }).expect(400);
    expect(cancel.body.errors).toEqual([expect.objectContaining({ field: 'reason', message: expect.stringContaining('NUL') })]);
  });

  it('gives every answer a request id, the caller’s when it is a short token', async () => {
    const mine = await http().get('/definitions').set('X-Request-Id', 'trace-42').expect(200);
    expect(mine.headers['x-request-id']).toBe('trace-42');
    const replaced = await http().get('/sagas/not-a-uuid').set('X-Request-Id', 'spaces are not ok').expect(400);
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(replaced.body.requestId).toBe(replaced.headers['x-request-id']);
  });
});

describe('limits', () => {
  let limited: INestApplication;
  const call = () => request(limited.getHttpServer());

  beforeAll(async () => {
    limited = await environment.start({ RATE_LIMIT_STARTS: '1', RATE_LIMIT_ACTIONS: '1', MAX_BODY_BYTES: '1000', MAX_WAITERS: '0' });
  });

  it('answers starts beyond the token rate with 429 and Retry-After, storing nothing', async () => {
    const before = await stored();
    await call().post('/sagas/place-order').send(PLACE_ORDER_INPUT).expect(202); // a burst of twice the rate
    await call().post('/sagas/place-order').send(PLACE_ORDER_INPUT).expect(202);
    const refused = await call().post('/sagas/place-order').send(PLACE_ORDER_INPUT).expect(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.body).toMatchObject({ statusCode: 429, message: expect.stringContaining('more than 1 starts per second') });
    expect(await stored()).toBe(before + 2);
  });

  it('answers operator actions beyond the token rate with 429 and Retry-After, doing nothing', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the test before spent the start bucket
    const id = (await call().post('/sagas/place-order').send(PLACE_ORDER_INPUT).expect(202)).body.id;
    const history = async () => (await call().get(`/sagas/${id}`).expect(200)).body.historyTotal as number;
    await call().post('/sagas/bulk/cancel?name=place-order').send({ reason: 'r' }).expect(200); // a burst of twice the rate (dry runs)
    await call().post('/sagas/bulk/cancel?name=place-order').send({ reason: 'r' }).expect(200);
    const before = await history();
    const refused = await call().post(`/sagas/${id}/cancel`).send({ reason: 'too many' }).expect(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.body).toMatchObject({ statusCode: 429, message: expect.stringContaining('operator actions per second') });
    expect(await history()).toBe(before);
  });

  it('answers a body over MAX_BODY_BYTES with 413', async () => {
    const answer = await call()
      .post('/sagas/place-order')
      .send({ ...PLACE_ORDER_INPUT, note: 'x'.repeat(2_000) })
      .expect(413);
    expect(answer.body).toMatchObject({ statusCode: 413, message: 'the request body is too large' });
  });

  it('skips the wait beyond MAX_WAITERS, and says so', async () => {
    const id = (await http().post('/sagas/place-order').send(PLACE_ORDER_INPUT).expect(202)).body.id;
    const started = Date.now();
    const read = await call().get(`/sagas/${id}?waitMs=5000`).expect(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(read.headers['wait-skipped']).toContain('MAX_WAITERS');
    expect(read.body.status).toBe('RUNNING'); // no participant runs here: it would have waited 5 s
  });
});
