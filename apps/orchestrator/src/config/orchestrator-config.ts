/**
 * The orchestrator's configuration: environment variables, validated with a zod schema at boot.
 *
 * Guarantees: every setting has a documented default that works against a local PostgreSQL and
 * RabbitMQ (README "Configuration"); a bad value stops the process at boot with the variable's
 * name and the problem, never later.
 */
import { amqpUrlListProblem, DEFAULT_QUEUE_TYPE, QUEUE_TYPES, type QueueType } from '#saga/messaging';
import { z } from 'zod';
import { CHURN_VACUUM_SETTINGS, DAY_MS, parseRetention, RetentionSettingError, type ChurnVacuumSetting } from '#saga/persistence';
import { AccessTokens, AccessTokensError } from '../auth/access-tokens';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true');

export const orchestratorEnvSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/saga_orchestrator'),
  DATABASE_POOL_SIZE: positiveInt(10),
  /** One amqp(s):// URL or a comma-separated list (the nodes of one cluster: failover, amqp-client.ts). */
  AMQP_URL: z
    .string()
    .superRefine((value, ctx) => {
      const problem = amqpUrlListProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default('amqp://guest:guest@127.0.0.1:5672'),
  AMQP_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default('saga'),
  AMQP_QUEUE_TYPE: z.enum(QUEUE_TYPES).default(DEFAULT_QUEUE_TYPE),
  SAGA_DEFINITIONS_DIR: z.string().default('definitions'),
  REPLY_PREFETCH: positiveInt(64),
  OUTBOX_POLL_MS: positiveInt(5000),
  OUTBOX_BATCH_SIZE: positiveInt(200),
  OUTBOX_CLAIM_AFTER_MS: positiveInt(2000),
  REPLY_BATCH_SIZE: positiveInt(64),
  START_BATCH_SIZE: positiveInt(64),
  TIMER_POLL_MS: positiveInt(1000),
  DEFINITIONS_REFRESH_MS: positiveInt(5000),
  WAIT_MAX_MS: positiveInt(30_000),
  STATE_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
  STATE_CACHE_MAX_BYTES: positiveInt(64 * 1024 * 1024),
  AUTH_TOKENS: z.string().optional(),
  AUTH_TOKENS_FILE: z.string().optional(),
  AUTH_DISABLED: flag(false),
  METRICS_PUBLIC: flag(false),
  DOCS_PUBLIC: flag(true),
  UI_ENABLED: flag(true),
  MAX_BODY_BYTES: positiveInt(102_400),
  MAX_WAITERS: z.coerce.number().int().min(0).default(1000),
  HISTORY_LIMIT: z.coerce.number().int().min(1).max(10_000).default(200),
  RATE_LIMIT_STARTS: positiveInt(1000),
  RATE_LIMIT_ACTIONS: positiveInt(20),
  DEAD_LETTER_INTAKE: flag(true),
  DEAD_LETTER_PREFETCH: positiveInt(16),
  RETENTION_FINISHED_SAGAS: z.string().optional(),
  RETENTION_INTERVAL_MS: positiveInt(60_000),
  RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
  RETENTION_VACUUM: z.enum(CHURN_VACUUM_SETTINGS).default('auto'),
});

export type OrchestratorEnv = z.input<typeof orchestratorEnvSchema>;

export interface OrchestratorConfig {
  port: number;
  databaseUrl: string;
  databasePoolSize: number;
  amqpUrl: string;
  amqpPrefix: string;
  /** The type of the reply and participant queues (libs/messaging topology.ts); every service uses the same. */
  amqpQueueType: QueueType;
  definitionsDir: string;
  replyPrefetch: number;
  outboxPollMs: number;
  outboxBatchSize: number;
  outboxClaimAfterMs: number;
  replyBatchSize: number;
  startBatchSize: number;
  timerPollMs: number;
  /** How often each replica looks for definition versions registered elsewhere. */
  definitionsRefreshMs: number;
  waitMaxMs: number;
  stateCacheSize: number;
  /** The most saga state the cache holds, measured as JSON. */
  stateCacheMaxBytes: number;
  /** The API's bearer tokens; null only when AUTH_DISABLED=true (every caller is an admin). */
  accessTokens: AccessTokens | null;
  metricsPublic: boolean;
  docsPublic: boolean;
  /** Serve the admin UI at /ui (its data calls need a token like any other). */
  uiEnabled: boolean;
  /** Largest request body accepted (413 beyond). */
  maxBodyBytes: number;
  /** History entries GET /sagas/{id} returns (the latest); the rest page through /history. */
  historyLimit: number;
  /** Requests holding with waitMs at once; beyond, the wait is skipped (answered at once). */
  maxWaiters: number;
  /** Per token and second (bursts of twice): saga starts, and operator actions. */
  rateLimits: { start: number; action: number };
  /** Take `<prefix>.dead-letter` into the dead_letters table (false: leave it to RabbitMQ tools). */
  deadLetterIntake: boolean;
  deadLetterPrefetch: number;
  /** Finished sagas (COMPLETED, COMPENSATED, RESOLVED_MANUALLY) are deleted this long after their
   *  last change, with their steps, history and inbox keys; null: never (docs/operations.md).
   *  `vacuum`: `auto` vacuums the saga tables after each sweep when the server's autovacuum is off. */
  retention: { finishedSagasMs: number | null; intervalMs: number; batchSize: number; vacuum: ChurnVacuumSetting };
}

/** RETENTION_FINISHED_SAGAS when unset: 30 days. */
export const DEFAULT_FINISHED_SAGA_RETENTION_MS = 30 * DAY_MS;

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
    ...accessControl(e),
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    amqpUrl: e.AMQP_URL,
    amqpPrefix: e.AMQP_PREFIX,
    amqpQueueType: e.AMQP_QUEUE_TYPE,
    definitionsDir: e.SAGA_DEFINITIONS_DIR,
    replyPrefetch: e.REPLY_PREFETCH,
    outboxPollMs: e.OUTBOX_POLL_MS,
    outboxBatchSize: e.OUTBOX_BATCH_SIZE,
    outboxClaimAfterMs: e.OUTBOX_CLAIM_AFTER_MS,
    replyBatchSize: e.REPLY_BATCH_SIZE,
    startBatchSize: e.START_BATCH_SIZE,
    timerPollMs: e.TIMER_POLL_MS,
    definitionsRefreshMs: e.DEFINITIONS_REFRESH_MS,
    waitMaxMs: e.WAIT_MAX_MS,
    stateCacheSize: e.STATE_CACHE_SIZE,
    stateCacheMaxBytes: e.STATE_CACHE_MAX_BYTES,
    metricsPublic: e.METRICS_PUBLIC,
    docsPublic: e.DOCS_PUBLIC,
    uiEnabled: e.UI_ENABLED,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxWaiters: e.MAX_WAITERS,
    historyLimit: e.HISTORY_LIMIT,
    rateLimits: { start: e.RATE_LIMIT_STARTS, action: e.RATE_LIMIT_ACTIONS },
    deadLetterIntake: e.DEAD_LETTER_INTAKE,
    deadLetterPrefetch: e.DEAD_LETTER_PREFETCH,
    retention: {
      finishedSagasMs: finishedSagaRetention(e.RETENTION_FINISHED_SAGAS),
      intervalMs: e.RETENTION_INTERVAL_MS,
      batchSize: e.RETENTION_BATCH_SIZE,
      vacuum: e.RETENTION_VACUUM,
    },
  };
}

function finishedSagaRetention(value: string | undefined): number | null {
  try {
    return parseRetention('RETENTION_FINISHED_SAGAS', value, DEFAULT_FINISHED_SAGA_RETENTION_MS);
  } catch (error) {
    if (error instanceof RetentionSettingError) throw new InvalidConfigError(`Invalid orchestrator configuration:\n  ${error.message}`);
    throw error;
  }
}

/** Secure by default: no tokens and no explicit AUTH_DISABLED=true is a refusal to start. */
function accessControl(e: z.output<typeof orchestratorEnvSchema>): { accessTokens: AccessTokens | null } {
  const given = [e.AUTH_TOKENS !== undefined && 'AUTH_TOKENS', e.AUTH_TOKENS_FILE !== undefined && 'AUTH_TOKENS_FILE'].filter(Boolean);
  if (e.AUTH_DISABLED) {
    if (given.length > 0) throw new InvalidConfigError(`Invalid orchestrator configuration:\n  AUTH_DISABLED=true and ${given.join(' and ')} are both set: choose one`);
    return { accessTokens: null };
  }
  if (given.length === 0) {
    throw new InvalidConfigError(
      'Invalid orchestrator configuration:\n  AUTH_TOKENS (or AUTH_TOKENS_FILE) is not set: give the API its bearer tokens, a JSON list of ' +
        '{ "name", "role": "viewer" | "client" | "operator" | "admin", "token" or "sha256" }, or set AUTH_DISABLED=true to run without authentication (every caller is an admin)',
    );
  }
  if (given.length > 1) throw new InvalidConfigError('Invalid orchestrator configuration:\n  AUTH_TOKENS and AUTH_TOKENS_FILE are both set: choose one');
  try {
    return { accessTokens: e.AUTH_TOKENS !== undefined ? AccessTokens.parse(e.AUTH_TOKENS) : AccessTokens.fromFile(e.AUTH_TOKENS_FILE!) };
  } catch (error) {
    if (error instanceof AccessTokensError) throw new InvalidConfigError(`Invalid orchestrator configuration:\n  ${error.message}`);
    throw error;
  }
}

/** Injection token of the parsed configuration. */
export const ORCHESTRATOR_CONFIG = Symbol('ORCHESTRATOR_CONFIG');
