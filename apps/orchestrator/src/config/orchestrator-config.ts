/**
 * The orchestrator's configuration: environment variables, validated with a zod schema at boot.
 *
 * Guarantees: every setting has a documented default that works against a local PostgreSQL and
 * RabbitMQ (README "Configuration"); a bad value stops the process at boot with the variable's
 * name and the problem, never later.
 */
import { z } from 'zod';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

export const orchestratorEnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/saga_orchestrator'),
  DATABASE_POOL_SIZE: positiveInt(10),
  AMQP_URL: z.url().default('amqp://guest:guest@127.0.0.1:5672'),
  AMQP_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default('saga'),
  SAGA_DEFINITIONS_DIR: z.string().default('definitions'),
  REPLY_PREFETCH: positiveInt(64),
  OUTBOX_POLL_MS: positiveInt(1000),
  OUTBOX_BATCH_SIZE: positiveInt(200),
  OUTBOX_CLAIM_AFTER_MS: positiveInt(2000),
  REPLY_BATCH_SIZE: positiveInt(64),
  START_BATCH_SIZE: positiveInt(64),
  TIMER_POLL_MS: positiveInt(250),
  WAIT_MAX_MS: positiveInt(30_000),
  STATE_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
});

export type OrchestratorEnv = z.input<typeof orchestratorEnvSchema>;

export interface OrchestratorConfig {
  port: number;
  databaseUrl: string;
  databasePoolSize: number;
  amqpUrl: string;
  amqpPrefix: string;
  definitionsDir: string;
  replyPrefetch: number;
  outboxPollMs: number;
  outboxBatchSize: number;
  outboxClaimAfterMs: number;
  replyBatchSize: number;
  startBatchSize: number;
  timerPollMs: number;
  waitMaxMs: number;
  stateCacheSize: number;
}

export class InvalidConfigError extends Error {
  readonly code = 'INVALID_CONFIG';
}

export function parseOrchestratorConfig(env: Record<string, unknown>): OrchestratorConfig {
  // An empty variable (PORT=) means "not set", as it does for the participant services.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = orchestratorEnvSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new InvalidConfigError(`Invalid orchestrator configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    amqpUrl: e.AMQP_URL,
    amqpPrefix: e.AMQP_PREFIX,
    definitionsDir: e.SAGA_DEFINITIONS_DIR,
    replyPrefetch: e.REPLY_PREFETCH,
    outboxPollMs: e.OUTBOX_POLL_MS,
    outboxBatchSize: e.OUTBOX_BATCH_SIZE,
    outboxClaimAfterMs: e.OUTBOX_CLAIM_AFTER_MS,
    replyBatchSize: e.REPLY_BATCH_SIZE,
    startBatchSize: e.START_BATCH_SIZE,
    timerPollMs: e.TIMER_POLL_MS,
    waitMaxMs: e.WAIT_MAX_MS,
    stateCacheSize: e.STATE_CACHE_SIZE,
  };
}

/** Injection token of the parsed configuration. */
export const ORCHESTRATOR_CONFIG = Symbol('ORCHESTRATOR_CONFIG');
