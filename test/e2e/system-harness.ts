/**
 * The whole system for e2e tests: the orchestrator and the three example participants, started
 * in-process against the real PostgreSQL and RabbitMQ, isolated in fresh databases and a fresh
 * vhost per test file.
 *
 * Guarantees: the orchestrator listens on a free port; close() stops every app, then drops the
 * databases and the vhost it created (even if a test failed); a broker passed in (amqpUrl, e.g.
 * a test cluster) is used as it is and left to its owner.
 */
import type { INestApplication, INestApplicationContext } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import { bootstrapInventoryService } from '../../apps/inventory-service/src/bootstrap';
import { startOrchestrator } from '../../apps/orchestrator/src/bootstrap';
import { bootstrapOrderService } from '../../apps/order-service/src/bootstrap';
import { bootstrapPaymentService } from '../../apps/payment-service/src/bootstrap';
import { createTestDatabase, createTestVhost, runId } from '../support/infra';
import type { QueueType } from '#saga/messaging';

export interface SystemOptions {
  /** Extra orchestrator environment (e.g. SAGA_DEFINITIONS_DIR). */
  env?: Record<string, string>;
  /** Start the three example participants (default true). */
  participants?: boolean;
  /** Start the orchestrator in-process (default true); false when a test runs it as a process. */
  orchestrator?: boolean;
  /** Use this broker (one AMQP URL or a comma-separated list, e.g. a test cluster's nodes) as
   *  it is, instead of a fresh vhost on the machine's RabbitMQ; the caller owns and removes it. */
  amqpUrl?: string;
  /** AMQP_QUEUE_TYPE of every service (default quorum). */
  queueType?: QueueType;
}

export interface SagaBody {
  id: string;
  name: string;
  version: number;
  status: string;
  steps: { name: string; status: string; attempt: number; waitingForRetry: boolean; result: unknown }[];
  history: {
    type: string;
    failureType: string | null;
    step: string | null;
    direction: string | null;
    attempt: number | null;
    reason: string | null;
    detail?: Record<string, unknown> | null;
  }[];
  exceptions: { type: string; at: string; entry: string; step: string | null; direction: string | null; attempt: number | null; reason: string | null; message: string | null }[];
  failure: { step: string | null; type: string; code: string; message: string } | null;
}

export class TestSystem {
  private readonly cleanups: (() => Promise<void>)[] = [];
  readonly databases: Record<'orchestrator' | 'orders' | 'inventory' | 'payments', string> = { orchestrator: '', orders: '', inventory: '', payments: '' };
  amqpUrl = '';
  orchestrator!: INestApplication;
  participants: INestApplicationContext[] = [];
  readonly id = runId();
  readonly prefix = 'saga';
  queueType: QueueType = 'quorum';

  static async start(options: SystemOptions = {}): Promise<TestSystem> {
    const system = new TestSystem();
    try {
      await system.boot(options);
    } catch (error) {
      await system.close();
      throw error;
    }
    return system;
  }

  private async boot(options: SystemOptions): Promise<void> {
    this.queueType = options.queueType ?? 'quorum';
    if (options.amqpUrl) {
      this.amqpUrl = options.amqpUrl;
    } else {
      const vhost = await createTestVhost(this.id);
      this.cleanups.push(vhost.drop);
      this.amqpUrl = vhost.url;
    }
    for (const label of Object.keys(this.databases) as (keyof TestSystem['databases'])[]) {
      const db = await createTestDatabase(this.id, label);
      this.cleanups.push(db.drop);
      this.databases[label] = db.url;
    }
    if (options.participants !== false) await this.startParticipants();
    if (options.orchestrator !== false) this.orchestrator = await startOrchestrator({ env: this.orchestratorEnv(options.env), logger: false });
  }

  /** Starts the order, inventory and payment services in-process (close() stops them). */
  async startParticipants(): Promise<void> {
    const common = { amqpUrl: this.amqpUrl, amqpPrefix: this.prefix, amqpQueueType: this.queueType };
    const quiet = { logger: false as const };
    this.participants.push(await bootstrapOrderService({ ...common, databaseUrl: this.databases.orders }, quiet));
    this.participants.push(await bootstrapInventoryService({ ...common, databaseUrl: this.databases.inventory }, quiet));
    this.participants.push(await bootstrapPaymentService({ ...common, databaseUrl: this.databases.payments }, quiet));
  }

  orchestratorEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PORT: '0',
      DATABASE_URL: this.databases.orchestrator,
      AMQP_URL: this.amqpUrl,
      AMQP_PREFIX: this.prefix,
      AMQP_QUEUE_TYPE: this.queueType,
      SAGA_DEFINITIONS_DIR: '/nonexistent-definitions-dir',
      // These scenarios are about sagas; who may call what is test/e2e/access-control.e2e.spec.ts.
      AUTH_DISABLED: 'true',
      ...extra,
    };
  }

  http(): ReturnType<typeof request> {
    return request(this.orchestrator.getHttpServer());
  }

  startSaga(name: string, input: unknown, idempotencyKey?: string): request.Test {
    const call = this.http()
      .post(`/sagas/${name}`)
      .send(input as object);
    return idempotencyKey ? call.set('Idempotency-Key', idempotencyKey) : call;
  }

  async waitForSaga(id: string, waitMs = 20_000): Promise<SagaBody> {
    const response = await this.http().get(`/sagas/${id}?waitMs=${waitMs}`).expect(200);
    return response.body as SagaBody;
  }

  /** Runs a query on one of the databases (participants' own tables, or the orchestrator's). */
  async query<T = Record<string, unknown>>(database: keyof TestSystem['databases'], sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.databases[database] });
    client.on('error', () => undefined); // a restart test may cut it; the query reports that
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.orchestrator?.close().catch(() => undefined);
    for (const app of this.participants) await app.close().catch(() => undefined);
    for (const cleanup of this.cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}
