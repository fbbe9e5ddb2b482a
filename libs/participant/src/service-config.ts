/**
 * Configuration of a participant service: environment variables validated by a zod schema with
 * defaults (zero configuration on a developer machine), then programmatic overrides (tests, the
 * start-all script). Services hand the result to @nestjs/config.
 *
 * Guarantees: the result is fully validated (URL schemes, every entry of an AMQP URL list, a database name, a prefix usable in
 * queue names) or ParticipantConfigError lists every problem; an empty variable counts as unset;
 * process.env is never modified.
 */
import type { LoggerService, LogLevel } from '@nestjs/common';
import { amqpUrlListProblem, DEFAULT_QUEUE_TYPE, QUEUE_TYPES, type QueueType } from '#saga/messaging';
import { z } from 'zod';
import { CHURN_VACUUM_SETTINGS, RetentionSettingError, type ChurnVacuumSetting } from '#saga/persistence';
import { ParticipantConfigError } from './errors';
import { DEFAULT_PRUNE_INTERVAL_MS, processedCommandsRetention } from './processed-commands-retention';

export interface ParticipantServiceConfig {
  amqpUrl: string;
  amqpPrefix: string;
  /** AMQP_QUEUE_TYPE: `quorum` (default) or `classic` (one broker node only), as the orchestrator's. */
  amqpQueueType: QueueType;
  databaseUrl: string;
  /** RETENTION_PROCESSED_COMMANDS in ms (default 7 days, at least 1 day unless
   *  RETENTION_TEST_SHORT_WINDOWS=true); null: never pruned. */
  processedCommandsRetentionMs: number | null;
  /** RETENTION_INTERVAL_MS: how often the pruning runs (default 10 min). */
  retentionIntervalMs: number;
  /** RETENTION_VACUUM: `auto` (default) vacuums processed_commands after each pruning run when
   *  the server's autovacuum is off; `off` never does. */
  retentionVacuum: ChurnVacuumSetting;
}

/** Second argument of the example services' bootstrap functions. */
export interface ServiceBootstrapOptions {
  /** Nest's logger for the framework and toolkit (default: warnings and errors only); false: silent. */
  logger?: LoggerService | LogLevel[] | false;
  /** The clock that command expiries are checked against (default Date.now). Tests pass a
   *  skewed one to show what a participant whose clock runs ahead does (docs/protocol.md). */
  clock?: () => number;
}

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const DEFAULT_AMQP_PREFIX = 'saga';

function hasScheme(value: string, schemes: string[]): boolean {
  try {
    return schemes.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** One amqp(s):// URL or a comma-separated list of a cluster's nodes (AmqpClient fails over). */
const amqpUrl = z.string().superRefine((value, ctx) => {
  const problem = amqpUrlListProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const amqpPrefix = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-" only');
const databaseUrl = z
  .string()
  .refine((v) => hasScheme(v, ['postgres:', 'postgresql:']), 'must be a postgres:// URL')
  .refine((v) => hasScheme(v, ['postgres:', 'postgresql:']) && new URL(v).pathname.length > 1, 'must name a database');

export const participantServiceConfigSchema = z
  .object({
    amqpUrl,
    amqpPrefix,
    amqpQueueType: z.enum(QUEUE_TYPES),
    databaseUrl,
    processedCommandsRetentionMs: z.number().int().positive().nullable(),
    retentionIntervalMs: z.number().int().positive(),
    retentionVacuum: z.enum(CHURN_VACUUM_SETTINGS),
  })
  .strict();

const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);

export interface ServiceConfigSpec {
  /** e.g. INVENTORY_DATABASE_URL */
  databaseUrlVariable: string;
  defaultDatabaseUrl: string;
}

export function participantEnvSchema(spec: ServiceConfigSpec) {
  return z.object({
    AMQP_URL: z.preprocess(unsetIfEmpty, amqpUrl.default(DEFAULT_AMQP_URL)),
    AMQP_PREFIX: z.preprocess(unsetIfEmpty, amqpPrefix.default(DEFAULT_AMQP_PREFIX)),
    AMQP_QUEUE_TYPE: z.preprocess(unsetIfEmpty, z.enum(QUEUE_TYPES).default(DEFAULT_QUEUE_TYPE)),
    [spec.databaseUrlVariable]: z.preprocess(unsetIfEmpty, databaseUrl.default(spec.defaultDatabaseUrl)),
    RETENTION_PROCESSED_COMMANDS: z.string().optional(),
    RETENTION_INTERVAL_MS: z.preprocess(unsetIfEmpty, z.coerce.number().int().positive().default(DEFAULT_PRUNE_INTERVAL_MS)),
    RETENTION_TEST_SHORT_WINDOWS: z.preprocess(unsetIfEmpty, z.enum(['true', 'false']).default('false')),
    RETENTION_VACUUM: z.preprocess(unsetIfEmpty, z.enum(CHURN_VACUUM_SETTINGS).default('auto')),
  });
}

export function resolveServiceConfig(
  spec: ServiceConfigSpec,
  env: Record<string, string | undefined>,
  overrides: Partial<ParticipantServiceConfig> = {},
): ParticipantServiceConfig {
  const fromEnv = participantEnvSchema(spec).safeParse(env);
  if (!fromEnv.success) throw new ParticipantConfigError(`invalid environment: ${z.prettifyError(fromEnv.error)}`);
  let processedCommandsRetentionMs: number | null;
  try {
    const allowShort = fromEnv.data.RETENTION_TEST_SHORT_WINDOWS === 'true';
    processedCommandsRetentionMs = processedCommandsRetention(fromEnv.data.RETENTION_PROCESSED_COMMANDS as string | undefined, allowShort);
  } catch (error) {
    if (error instanceof RetentionSettingError) throw new ParticipantConfigError(`invalid environment: ${error.message}`);
    throw error;
  }
  const definedOverrides = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const merged = participantServiceConfigSchema.safeParse({
    amqpUrl: fromEnv.data.AMQP_URL,
    amqpPrefix: fromEnv.data.AMQP_PREFIX,
    amqpQueueType: fromEnv.data.AMQP_QUEUE_TYPE,
    databaseUrl: fromEnv.data[spec.databaseUrlVariable],
    processedCommandsRetentionMs,
    retentionIntervalMs: fromEnv.data.RETENTION_INTERVAL_MS,
    retentionVacuum: fromEnv.data.RETENTION_VACUUM,
    ...definedOverrides,
  });
  if (!merged.success) throw new ParticipantConfigError(`invalid configuration: ${z.prettifyError(merged.error)}`);
  return Object.freeze(merged.data);
}
