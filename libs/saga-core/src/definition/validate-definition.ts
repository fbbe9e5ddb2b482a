/**
 * Load-time validation of a saga definition (plain data from TypeScript or a JSON file).
 *
 * Guarantees: every problem is reported at once with its path; an accepted definition has
 * unique, URL-safe step names, known commands, sane timeouts and retry budgets (every step has
 * an action timeout, its own or the saga's `defaults.timeoutMs`), a compensation
 * on every step a later failure can roll back, payload references that can only point at the
 * input or at earlier steps, an input schema that compiles, and a business key (if any) that is a
 * path into the input.
 */
import { InvalidDefinitionError, type DefinitionProblem } from '../errors';
import { parseBusinessKeyPath } from './business-key';
import { compileInputSchema } from './input-schema';
import { commandRoutes, type ParticipantCatalog } from './participant-catalog';
import { templateReferences } from './payload-template';
import type { CommandDefinition, SagaDefinition, StepDefinition } from './saga-definition';

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

type Problems = DefinitionProblem[];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const KNOWN_KEYS = {
  saga: ['$schema', 'name', 'version', 'description', 'inputSchema', 'businessKey', 'deadlineMs', 'defaults', 'steps'],
  defaults: ['timeoutMs', 'retry', 'compensationTimeoutMs', 'compensationRetry'],
  step: ['name', 'description', 'action', 'compensation', 'pivot', 'timeoutMs', 'retry', 'compensationTimeoutMs', 'compensationRetry'],
  command: ['command', 'payload'],
  retry: ['maxAttempts', 'backoff', 'nonRetryableCodes'],
  backoff: ['initialMs', 'multiplier', 'maxMs', 'jitter'],
};

/** A misspelt key (say "compensationTimeout") would otherwise be silently ignored. */
function checkKnownKeys(value: Record<string, unknown>, known: string[], path: string, problems: Problems): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) problems.push({ path: path ? `${path}.${key}` : key, message: `unknown key; expected one of ${known.join(', ')}` });
  }
}

function checkPositiveInt(value: unknown, path: string, problems: Problems, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    problems.push({ path, message: `must be an integer between 1 and ${max}, got ${JSON.stringify(value)}` });
  }
}

function checkRetry(value: unknown, path: string, problems: Problems): void {
  if (!isRecord(value)) return void problems.push({ path, message: 'must be an object { maxAttempts, backoff }' });
  checkKnownKeys(value, KNOWN_KEYS.retry, path, problems);
  checkPositiveInt(value.maxAttempts, `${path}.maxAttempts`, problems, 1000);
  const backoff = value.backoff;
  if (!isRecord(backoff)) return void problems.push({ path: `${path}.backoff`, message: 'must be an object { initialMs, multiplier, maxMs }' });
  checkKnownKeys(backoff, KNOWN_KEYS.backoff, `${path}.backoff`, problems);
  checkPositiveInt(backoff.initialMs, `${path}.backoff.initialMs`, problems, MAX_TIMEOUT_MS);
  checkPositiveInt(backoff.maxMs, `${path}.backoff.maxMs`, problems, MAX_TIMEOUT_MS);
  if (typeof backoff.multiplier !== 'number' || !(backoff.multiplier >= 1) || backoff.multiplier > 100) {
    problems.push({ path: `${path}.backoff.multiplier`, message: 'must be a number between 1 and 100' });
  }
  if (backoff.jitter !== undefined && (typeof backoff.jitter !== 'number' || !(backoff.jitter >= 0 && backoff.jitter <= 1))) {
    problems.push({ path: `${path}.backoff.jitter`, message: 'must be a number between 0 and 1' });
  }
  const codes = value.nonRetryableCodes;
  if (codes !== undefined && (!Array.isArray(codes) || codes.some((code) => typeof code !== 'string' || code.length === 0))) {
    problems.push({ path: `${path}.nonRetryableCodes`, message: 'must be an array of non-empty error codes' });
  }
  if (typeof backoff.initialMs === 'number' && typeof backoff.maxMs === 'number' && backoff.maxMs < backoff.initialMs) {
    problems.push({ path: `${path}.backoff.maxMs`, message: 'must not be smaller than initialMs' });
  }
}

function checkCommand(value: unknown, path: string, routes: Map<string, unknown>, allowedRoots: Map<string, string>, problems: Problems): void {
  if (!isRecord(value)) return void problems.push({ path, message: 'must be an object { command, payload? }' });
  checkKnownKeys(value, KNOWN_KEYS.command, path, problems);
  if (typeof value.command !== 'string' || value.command.length === 0) {
    problems.push({ path: `${path}.command`, message: 'must be a non-empty string' });
  } else if (!routes.has(value.command)) {
    problems.push({ path: `${path}.command`, message: `unknown command "${value.command}": no participant in the catalog serves it` });
  }
  for (const reference of templateReferences(value.payload as CommandDefinition['payload'])) {
    const [root, second] = reference;
    const shown = `$.${reference.join('.')}`;
    if (!allowedRoots.has(root)) {
      problems.push({ path: `${path}.payload`, message: `${shown} must start with one of ${[...allowedRoots.keys()].map((r) => `$.${r}`).join(', ')}` });
    } else if (root === 'steps' && (second === undefined || !allowedRoots.get('steps')!.split(',').includes(second))) {
      problems.push({ path: `${path}.payload`, message: `${shown} refers to "${second ?? ''}", which is not an earlier step` });
    }
  }
}

/** Timeouts and retry policies, on a step or in the saga's defaults: each optional here. */
function checkPolicies(value: Record<string, unknown>, path: string, problems: Problems): void {
  if (value.timeoutMs !== undefined) checkPositiveInt(value.timeoutMs, `${path}timeoutMs`, problems, MAX_TIMEOUT_MS);
  if (value.compensationTimeoutMs !== undefined) checkPositiveInt(value.compensationTimeoutMs, `${path}compensationTimeoutMs`, problems, MAX_TIMEOUT_MS);
  if (value.retry !== undefined) checkRetry(value.retry, `${path}retry`, problems);
  if (value.compensationRetry !== undefined) checkRetry(value.compensationRetry, `${path}compensationRetry`, problems);
}

function checkDefaults(value: unknown, problems: Problems): void {
  if (value === undefined) return;
  if (!isRecord(value)) return void problems.push({ path: 'defaults', message: 'must be an object { timeoutMs?, retry?, compensationTimeoutMs?, compensationRetry? }' });
  checkKnownKeys(value, KNOWN_KEYS.defaults, 'defaults', problems);
  checkPolicies(value, 'defaults.', problems);
}

function checkStep(step: unknown, index: number, earlier: string[], routes: Map<string, unknown>, defaults: unknown, problems: Problems): void {
  const path = `steps[${index}]`;
  if (!isRecord(step)) return void problems.push({ path, message: 'must be an object' });
  checkKnownKeys(step, KNOWN_KEYS.step, path, problems);
  if (typeof step.name !== 'string' || !NAME.test(step.name)) {
    problems.push({ path: `${path}.name`, message: 'must be lowercase letters, digits and dashes, starting with a letter' });
  }
  const actionRoots = new Map([
    ['saga', ''],
    ['input', ''],
    ['steps', earlier.join(',')],
  ]);
  checkCommand(step.action, `${path}.action`, routes, actionRoots, problems);
  if (step.compensation !== undefined) {
    const ownName = typeof step.name === 'string' ? step.name : '';
    const compensationRoots = new Map([
      ['saga', ''],
      ['input', ''],
      ['result', ''],
      ['request', ''],
      ['steps', [...earlier, ownName].join(',')],
    ]);
    checkCommand(step.compensation, `${path}.compensation`, routes, compensationRoots, problems);
  }
  if (step.pivot !== undefined && typeof step.pivot !== 'boolean') problems.push({ path: `${path}.pivot`, message: 'must be a boolean' });
  if (step.timeoutMs === undefined && !(isRecord(defaults) && defaults.timeoutMs !== undefined)) {
    problems.push({ path: `${path}.timeoutMs`, message: 'required: set it on the step or as defaults.timeoutMs for the whole saga' });
  }
  checkPolicies(step, `${path}.`, problems);
}

function checkRollbackCoverage(steps: StepDefinition[], problems: Problems): void {
  const pivots = steps.map((step, index) => (step.pivot === true ? index : -1)).filter((index) => index >= 0);
  if (pivots.length > 1) problems.push({ path: 'steps', message: `at most one step may be the pivot; found ${pivots.length}` });
  // Without a pivot, the last step's failure is the latest rollback point: all before it need an undo.
  const firstWithoutUndo = pivots.length > 0 ? pivots[0] : steps.length - 1;
  steps.forEach((step, index) => {
    if (index < firstWithoutUndo && step.compensation === undefined) {
      const why = pivots.length > 0 ? 'it comes before the pivot' : 'a later step can fail and roll it back (mark a pivot to say otherwise)';
      problems.push({ path: `steps[${index}].compensation`, message: `step "${step.name}" needs a compensation: ${why}` });
    }
    if (pivots.length > 0 && index > pivots[0] && step.compensation !== undefined) {
      problems.push({ path: `steps[${index}].compensation`, message: `step "${step.name}" comes after the pivot, so its compensation would never run; remove it` });
    }
  });
}

/** Validates raw data and returns it typed; throws InvalidDefinitionError listing every problem. */
export function validateDefinition(raw: unknown, catalog: ParticipantCatalog, source = '(inline)'): SagaDefinition {
  const problems: Problems = [];
  if (!isRecord(raw)) throw new InvalidDefinitionError(source, [{ path: '', message: 'a definition must be a JSON object' }]);
  checkKnownKeys(raw, KNOWN_KEYS.saga, '', problems);
  if (typeof raw.name !== 'string' || !NAME.test(raw.name)) {
    problems.push({ path: 'name', message: 'must be lowercase letters, digits and dashes, starting with a letter (it is used in URLs)' });
  }
  checkPositiveInt(raw.version, 'version', problems, 1_000_000);
  if (raw.deadlineMs !== undefined) checkPositiveInt(raw.deadlineMs, 'deadlineMs', problems, 30 * MAX_TIMEOUT_MS);
  checkDefaults(raw.defaults, problems);
  if (!isRecord(raw.inputSchema)) {
    problems.push({ path: 'inputSchema', message: 'must be a JSON Schema object' });
  } else {
    const compiled = compileInputSchema(raw.inputSchema);
    if (!compiled.ok) problems.push({ path: 'inputSchema', message: compiled.error });
  }
  if (raw.businessKey !== undefined) {
    const parsed = parseBusinessKeyPath(raw.businessKey);
    if (!parsed.ok) problems.push({ path: 'businessKey', message: parsed.error });
  }
  const routes = commandRoutes(catalog) as Map<string, unknown>;
  if (!Array.isArray(raw.steps) || raw.steps.length === 0) {
    problems.push({ path: 'steps', message: 'must be a non-empty array' });
  } else {
    const seen: string[] = [];
    raw.steps.forEach((step, index) => {
      checkStep(step, index, [...seen], routes, raw.defaults, problems);
      const name = isRecord(step) ? step.name : undefined;
      if (typeof name === 'string') {
        if (seen.includes(name)) problems.push({ path: `steps[${index}].name`, message: `duplicate step name "${name}"` });
        seen.push(name);
      }
    });
    // Reported alongside any other problem (every problem at once), as soon as the steps are objects.
    if (raw.steps.every(isRecord)) checkRollbackCoverage(raw.steps as unknown as StepDefinition[], problems);
  }
  if (problems.length > 0) throw new InvalidDefinitionError(source, problems);
  return raw as unknown as SagaDefinition;
}
