/**
 * LOG_FORMAT=json, on the built orchestrator process: every line is one JSON object, and a
 * failed request's line carries its fields (method, path, status, requestId) without its query
 * values; a bad LOG_FORMAT stops the start with the variable's name.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { OrchestratorEnvironment } from '../adapters/orchestrator-under-test';
import { waitFor } from '../support/infra';
import { ORCHESTRATOR_MAIN, OrchestratorProcess } from '../support/orchestrator-process';

let environment: OrchestratorEnvironment;
let orchestrator: OrchestratorProcess | undefined;

beforeAll(async () => {
  environment = await OrchestratorEnvironment.create('jsonlogs');
});

afterAll(async () => {
  await orchestrator?.kill();
  await environment?.close();
});

const env = () => ({ DATABASE_URL: environment.databaseUrl, AMQP_URL: environment.amqpUrl, SAGA_DEFINITIONS_DIR: '/nonexistent-definitions-dir', AUTH_DISABLED: 'true' });

it('writes one JSON object per line, a failed request with its fields', async () => {
  orchestrator = await OrchestratorProcess.start({ ...env(), LOG_FORMAT: 'json' });
  const missing = randomUUID();
  const response = await fetch(`${orchestrator.baseUrl}/sagas/${missing}?waitMs=0`, { headers: { 'X-Request-Id': 'json-log-1' } });
  expect(response.status).toBe(404);
  const lines = () =>
    orchestrator!.log
      .split('\n')
      .filter((line) => line.trim().length > 0)
      .map((line) => JSON.parse(line) as { level: string; message: unknown; context?: string });
  await waitFor(async () => lines().some((line) => (line.message as { requestId?: string })?.requestId === 'json-log-1'), 'the request to be logged', 5_000);
  const logged = lines().find((line) => (line.message as { requestId?: string })?.requestId === 'json-log-1')!;
  expect(logged).toMatchObject({
    level: 'warn',
    context: 'Api',
    message: { msg: `no saga ${missing}`, method: 'GET', path: `/sagas/${missing}`, status: 404, requestId: 'json-log-1' },
  });
  expect(JSON.stringify(logged)).not.toContain('waitMs');
  expect(lines().some((line) => String(line.message).includes('API ready'))).toBe(true);
});

it('refuses to start with a LOG_FORMAT it does not know', () => {
  const run = spawnSync(process.execPath, [ORCHESTRATOR_MAIN], { env: { ...process.env, ...env(), PORT: '0', LOG_FORMAT: 'yaml' }, encoding: 'utf8', timeout: 30_000 });
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('LOG_FORMAT: expected "text" or "json"');
});
