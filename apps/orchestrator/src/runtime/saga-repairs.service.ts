/**
 * Operator repairs of one saga (docs/semantics.md S8): each turns a request into an engine event
 * and commits it through SagaRuntime.repair, the same owner and write path as replies. One
 * method per action and per saga, so a bulk loop can call them saga by saga.
 *
 * Guarantees:
 * - Who and why travel with the event and are recorded in the saga's history by the engine,
 *   whether the repair is applied (OPERATOR_ACTION) or refused (OPERATOR_ACTION_REJECTED).
 * - With an idempotency key, the key (`op:<actor>:<saga>:<key>`) is claimed in the saga's
 *   inbox in the same transaction as the decision: a repeat writes nothing and is answered
 *   from the entry the first request recorded (`replayed: true`); the same key for another
 *   action on that saga is `key-reused`. Without a key nothing is deduplicated.
 * - fire-timer claims the timer row in that transaction too (whoever deletes it handles it):
 *   a timer that fired meanwhile is refused, and nothing of the request is kept.
 * - Expected outcomes are values; only infrastructure failures throw.
 * - Each committed repair is logged (warn when applied) with saga, action, actor and result;
 *   never the reason or the key (operator input stays in the history).
 */
import { Injectable, Logger } from '@nestjs/common';
import { EngineMisuseError, type HistoryEntry, type RepairEvent, type ResolveOutcome } from '#saga/core';
import { logLine } from '../logging/log-line';
import { SagaRuntime } from './saga-runtime.service';

/** Who asks, why, and the request's idempotency key (null: no dedupe). */
export interface RepairRequest {
  by: string;
  reason: string;
  idempotencyKey: string | null;
}

export type RepairResult =
  | { kind: 'done'; entry: HistoryEntry; replayed: boolean }
  | { kind: 'refused'; reason: string; replayed: boolean }
  | { kind: 'key-reused'; action: string }
  | { kind: 'unknown-saga' };

/** A repair event without who, why and key (distributed over the union). */
type RepairFields = RepairEvent extends infer E ? (E extends RepairEvent ? Omit<E, 'by' | 'reason' | 'requestKey'> : never) : never;

@Injectable()
export class SagaRepairs {
  private readonly logger = new Logger('SagaRepairs');

  constructor(private readonly runtime: SagaRuntime) {}

  /** COMPENSATION_FAILED → COMPENSATING: the failed undo is sent again with a fresh budget. */
  retryCompensation(sagaId: string, request: RepairRequest): Promise<RepairResult> {
    return this.run(sagaId, { type: 'RETRY_COMPENSATION' }, request);
  }

  /** The step's failed (or waiting) undo is marked done by hand; rollback goes on. */
  skipCompensation(sagaId: string, step: string, request: RepairRequest): Promise<RepairResult> {
    return this.run(sagaId, { type: 'SKIP_COMPENSATION', step }, request);
  }

  /** Ends the saga as RESOLVED_MANUALLY. */
  resolve(sagaId: string, outcome: ResolveOutcome | null, request: RepairRequest): Promise<RepairResult> {
    return this.run(sagaId, { type: 'RESOLVE', outcome }, request);
  }

  /** Past the pivot: the step waiting for its retry is sent now. */
  retryStep(sagaId: string, step: string, request: RepairRequest): Promise<RepairResult> {
    return this.run(sagaId, { type: 'RETRY_STEP', step }, request);
  }

  /** Fires the saga's pending retry or timeout timer now (`timerId`, or the soonest one). */
  async fireTimer(sagaId: string, timerId: string | null, request: RepairRequest): Promise<RepairResult> {
    if (request.idempotencyKey !== null) {
      // The timer is gone after the first request: answer a repeat before looking for it.
      const earlier = await this.replay(sagaId, 'FIRE_TIMER_NOW', request);
      if (earlier) return earlier;
    }
    const timers = await this.runtime.pendingAttemptTimers(sagaId);
    const timer = timerId === null ? timers[0] : timers.find((pending) => pending.id === timerId);
    if (!timer || (timer.event.type !== 'RETRY_DUE' && timer.event.type !== 'ATTEMPT_TIMED_OUT')) {
      const reason = timerId === null ? 'the saga has no pending retry or timeout timer' : `the saga has no pending retry or timeout timer ${timerId}`;
      return { kind: 'refused', reason, replayed: false };
    }
    return this.run(sagaId, { type: 'FIRE_TIMER_NOW', timer: timer.event }, request, timer.id);
  }

  private async run(sagaId: string, fields: RepairFields, request: RepairRequest, timerId?: string): Promise<RepairResult> {
    const event = { ...fields, by: request.by, reason: request.reason, requestKey: request.idempotencyKey } as RepairEvent;
    const inboxKey = request.idempotencyKey === null ? undefined : `op:${request.by}:${sagaId}:${request.idempotencyKey}`;
    const outcome = await this.runtime.repair(sagaId, event, { inboxKey, timerId });
    switch (outcome.kind) {
      case 'unknown-saga':
        return { kind: 'unknown-saga' };
      case 'timer-already-fired':
        return { kind: 'refused', reason: 'the timer fired before this request got to it', replayed: false };
      case 'duplicate':
        return (await this.replay(sagaId, event.type, request)) ?? { kind: 'key-reused', action: 'another request' };
      case 'applied': {
        const result = answer(outcome.decision.history, false);
        // Who did what to which saga; the reason and the key are operator input: history only.
        const fields = { sagaId, action: event.type, by: request.by, result: result.kind, status: outcome.decision.state.status };
        if (result.kind === 'done') this.logger.warn(logLine('operator repair applied', fields));
        else this.logger.log(logLine('operator repair refused', fields));
        return result;
      }
    }
  }

  /** The answer of an earlier request with this key, if there was one. */
  private async replay(sagaId: string, action: RepairEvent['type'], request: RepairRequest): Promise<RepairResult | undefined> {
    const entry = await this.runtime.operatorEntry(sagaId, request.idempotencyKey!, request.by);
    if (!entry) return undefined;
    const recorded = String(entry.detail?.action ?? '');
    if (recorded !== action) return { kind: 'key-reused', action: recorded };
    return answer([entry], true);
  }
}

function answer(history: readonly HistoryEntry[], replayed: boolean): RepairResult {
  const entry = history.find((candidate) => candidate.type === 'OPERATOR_ACTION' || candidate.type === 'OPERATOR_ACTION_REJECTED');
  if (!entry) throw new EngineMisuseError('a repair decision without its operator entry'); // the engine always records one
  return entry.type === 'OPERATOR_ACTION' ? { kind: 'done', entry, replayed } : { kind: 'refused', reason: entry.reason ?? 'refused', replayed };
}
