/**
 * Saga definitions for tests driven by the scripted participant (scripted-participant.ts): every
 * step sends `<step>.do` (and `<step>.undo`) with the saga input's `plan`, which tells the
 * participant how to answer each attempt. Short retry budgets and timeouts, so a test reaches
 * COMPENSATION_FAILED in well under a second; SLOW_RETRY is a backoff no test waits out.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const SHORT_RETRY = { maxAttempts: 3, backoff: { initialMs: 50, multiplier: 1, maxMs: 50 } };
/** A backoff no test waits out: only an operator makes the retry happen in time. */
export const SLOW_RETRY = { maxAttempts: 3, backoff: { initialMs: 600_000, multiplier: 1, maxMs: 600_000 } };

export interface ScriptedStepOptions {
  undo?: boolean;
  pivot?: boolean;
  retry?: unknown;
  timeoutMs?: number;
}

export function scriptedStep(name: string, options: ScriptedStepOptions = {}): Record<string, unknown> {
  return {
    name,
    action: { command: `${name}.do`, payload: { plan: '$.input.plan' } },
    ...(options.undo === false ? {} : { compensation: { command: `${name}.undo`, payload: { plan: '$.input.plan' } } }),
    ...(options.pivot ? { pivot: true } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  };
}

/** Version 1 of `name`; with `withRef`, the input also carries `ref`, the saga's business key. */
export function scriptedSaga(name: string, steps: unknown[], options: { withRef?: boolean } = {}): Record<string, unknown> {
  const properties = { plan: { type: 'object' }, ...(options.withRef ? { ref: { type: 'string' } } : {}) };
  return {
    name,
    version: 1,
    ...(options.withRef ? { businessKey: '$.input.ref' } : {}),
    inputSchema: { type: 'object', required: Object.keys(properties), properties },
    defaults: { timeoutMs: 400, retry: SHORT_RETRY, compensationRetry: SHORT_RETRY },
    steps,
  };
}

/** Writes the scripted participant's catalog entry (its queue and commands) and the sagas into `folder`. */
export async function writeScriptedDefinitions(folder: string, queue: string, commands: string[], sagas: Record<string, unknown>[]): Promise<void> {
  await writeFile(join(folder, 'scripted.participants.json'), JSON.stringify({ participants: { scripted: { queue, commands } } }));
  for (const saga of sagas) await writeFile(join(folder, `${String(saga.name)}.saga.json`), JSON.stringify(saga));
}
