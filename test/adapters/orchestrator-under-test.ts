/**
 * Boots the orchestrator's Nest application in-process for the runtime adapter tests, on a
 * fresh database and a fresh RabbitMQ vhost of its own, with no participants: the tests play
 * the participants (or the silence of one) by reading the queues directly.
 *
 * Guarantees: `start()` may be called more than once on one environment (several replicas
 * sharing one database and vhost); `close()` stops every app, then drops the database, the
 * vhost and the definitions folder (also after a failed test).
 */
import type { INestApplication } from '@nestjs/common';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import { startOrchestrator } from '../../apps/orchestrator/src/bootstrap';
import { createTestDatabase, createTestVhost, runId } from '../support/infra';

export interface HistoryItem {
  type: string;
  at: string;
  step: string | null;
  direction: string | null;
  attempt: number | null;
  reason: string | null;
}

export interface SagaRead {
  id: string;
  status: string;
  steps: { name: string; status: string; attempt: number; compensationAttempt: number }[];
  history: HistoryItem[];
}

export const PLACE_ORDER_INPUT = { customerId: 'c-1', items: [{ sku: 'sku-1', quantity: 1 }], amount: 5 };

export class OrchestratorEnvironment {
  readonly apps: INestApplication[] = [];
  private readonly cleanups: (() => Promise<void>)[] = [];
  databaseUrl = '';
  amqpUrl = '';
  vhost = '';
  definitionsDir = '/nonexistent-definitions-dir';

  /** `files`: JSON definitions / participant catalogs to load from SAGA_DEFINITIONS_DIR. */
  static async create(label: string, files: Record<string, unknown> = {}): Promise<OrchestratorEnvironment> {
    const environment = new OrchestratorEnvironment();
    try {
      const id = runId();
      const db = await createTestDatabase(id, label);
      environment.cleanups.push(db.drop);
      environment.databaseUrl = db.url;
      const vhost = await createTestVhost(id);
      environment.cleanups.push(vhost.drop);
      environment.amqpUrl = vhost.url;
      environment.vhost = vhost.vhost;
      if (Object.keys(files).length > 0) {
        const dir = await mkdtemp(join(tmpdir(), 'saga-adapter-defs-'));
        environment.cleanups.push(() => rm(dir, { recursive: true, force: true }));
        for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), JSON.stringify(content, null, 2));
        environment.definitionsDir = dir;
      }
    } catch (error) {
      await environment.close();
      throw error;
    }
    return environment;
  }

  async start(env: Record<string, string> = {}): Promise<INestApplication> {
    const app = await startOrchestrator({
      env: {
        PORT: '0',
        DATABASE_URL: this.databaseUrl,
        AMQP_URL: this.amqpUrl,
        AMQP_PREFIX: 'saga',
        SAGA_DEFINITIONS_DIR: this.definitionsDir,
        AUTH_DISABLED: 'true', // access control has its own tests (test/e2e/access-control.e2e.spec.ts)
        ...env,
      },
      logger: false,
    });
    this.apps.push(app);
    return app;
  }

  http(app = this.apps[0]): ReturnType<typeof request> {
    return request(app.getHttpServer());
  }

  async startSaga(name: string, input: unknown, app = this.apps[0]): Promise<string> {
    const response = await this.http(app)
      .post(`/sagas/${name}`)
      .send(input as object)
      .expect(202);
    return (response.body as { id: string }).id;
  }

  async readSaga(id: string, waitMs = 0): Promise<SagaRead> {
    const response = await this.http()
      .get(`/sagas/${id}${waitMs > 0 ? `?waitMs=${waitMs}` : ''}`)
      .expect(200);
    return response.body as SagaRead;
  }

  /** A query on the orchestrator's database over a connection of its own (another "replica"). */
  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async outboxSize(): Promise<number> {
    const [row] = await this.query<{ n: number }>('SELECT count(*)::int AS n FROM saga_outbox');
    return row.n;
  }

  async close(): Promise<void> {
    for (const app of this.apps.splice(0).reverse()) await app.close().catch(() => undefined);
    for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  }
}
