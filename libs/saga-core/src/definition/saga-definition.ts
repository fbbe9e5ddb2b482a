/**
 * The shape of a saga definition: plain data, writable in TypeScript or as a JSON file.
 *
 * Guarantees: nothing here executes. A definition only becomes usable after validateDefinition
 * has accepted it (definition/validate-definition.ts), which is the one place its rules live.
 */

/**
 * A payload template is JSON in which any string of the form "$.path" is replaced by the value
 * at that path in the template context ("$$." escapes a literal string starting with "$.").
 * Action context:        { saga: { id, name, version }, input, steps: { <earlier step>: <its result> } }
 * Compensation context:  the same, plus `request` (the payload this step's action was sent with)
 *                        and `result` (what the action returned, or null when the outcome is
 *                        unknown because every attempt timed out or the saga was cancelled).
 */
export type PayloadTemplate = string | number | boolean | null | PayloadTemplate[] | { [key: string]: PayloadTemplate };

export interface CommandDefinition {
  /** The command pattern, e.g. "inventory.reserve"; must be known to the participant catalog. */
  command: string;
  /** How to build the command's data. Default: for an action the saga input; for a compensation
   *  `{ "request": <the action's payload>, "result": <what the action returned> }`. */
  payload?: PayloadTemplate;
}

export interface BackoffPolicy {
  /** Delay before the second attempt, in milliseconds. */
  initialMs: number;
  /** Each later delay is the previous one times this factor (>= 1). */
  multiplier: number;
  /** Upper bound for one delay. */
  maxMs: number;
  /** Spread retries that would otherwise fire together: each delay is multiplied by a factor in
   *  [1 - jitter/2, 1 + jitter/2), fixed per (saga, step, direction, attempt). 0..1, default 0. */
  jitter?: number;
}

export interface RetryPolicy {
  /** Attempts in all, the first included (>= 1). Ignored for steps after a succeeded pivot,
   *  which are retried until they succeed. */
  maxAttempts: number;
  backoff: BackoffPolicy;
  /** Error codes that are not worth retrying even when the participant flagged them retryable:
   *  such a reply counts as a business failure at once. */
  nonRetryableCodes?: string[];
}

export interface StepDefinition {
  /** Unique within the saga: lowercase letters, digits and dashes. */
  name: string;
  description?: string;
  action: CommandDefinition;
  /** The command that undoes the action. Required for every step that a later step's failure
   *  can roll back (all steps before the pivot; all but the last when there is no pivot). */
  compensation?: CommandDefinition;
  /** Point of no return: once it succeeds the saga never compensates. At most one step. */
  pivot?: boolean;
  /** How long one attempt of the action waits for a reply. Required here or in the saga's
   *  `defaults.timeoutMs`. */
  timeoutMs?: number;
  /** Default: the saga's `defaults.retry`, else DEFAULT_ACTION_RETRY. */
  retry?: RetryPolicy;
  /** Timeout of one compensation attempt. Default: the saga's `defaults.compensationTimeoutMs`,
   *  else this step's action timeout. */
  compensationTimeoutMs?: number;
  /** Retry budget of the compensation. Default: the saga's `defaults.compensationRetry`, else
   *  DEFAULT_COMPENSATION_RETRY. */
  compensationRetry?: RetryPolicy;
}

/** Policies every step of a saga inherits unless the step sets its own. */
export interface StepPolicyDefaults {
  timeoutMs?: number;
  retry?: RetryPolicy;
  compensationTimeoutMs?: number;
  compensationRetry?: RetryPolicy;
}

/** A JSON Schema (draft 2020-12 subset understood by Ajv) describing the saga input. */
export type JsonSchema = Record<string, unknown>;

export interface SagaDefinition {
  /** Lowercase letters, digits and dashes; used in URLs (POST /sagas/{name}). */
  name: string;
  /** Positive integer. A running saga stays pinned to the version it started with. */
  version: number;
  description?: string;
  inputSchema: JsonSchema;
  /** Optional: where in the input the saga's business key is, e.g. "$.input.orderId". Stored with
   *  the saga at start (string or number, else none; cut at 200 characters) and searchable with
   *  GET /sagas?businessKey=… (definition/business-key.ts). */
  businessKey?: string;
  /** Optional overall deadline: a saga still RUNNING after this long is cancelled. */
  deadlineMs?: number;
  /** Timeouts and retry policies for steps that do not set their own. */
  defaults?: StepPolicyDefaults;
  steps: StepDefinition[];
}

/** Used when neither the step nor the saga's defaults set an action retry policy. */
export const DEFAULT_ACTION_RETRY: RetryPolicy = {
  maxAttempts: 3,
  backoff: { initialMs: 200, multiplier: 2, maxMs: 5_000 },
};

/** Compensations must end; the default budget is generous because an undo should not give up. */
export const DEFAULT_COMPENSATION_RETRY: RetryPolicy = {
  maxAttempts: 10,
  backoff: { initialMs: 500, multiplier: 2, maxMs: 30_000 },
};
