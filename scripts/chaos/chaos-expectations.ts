/**
 * Which final status a chaos-run saga may have, from its input, what its cancel got, and why its
 * rollback started (the reason of its first COMPENSATION_STARTED history entry).
 *
 * Guarantees: pure; every saga has exactly one answer (null = allowed, else the reason it is
 * not). The rules, strictest that the faults allow:
 * - declined or out of stock: COMPENSATED, whatever the faults;
 * - an "ok" input: COMPLETED, or COMPENSATED only when a step ran out of time: out of attempts
 *   by timing out (TIMEOUT), or its command refused as expired after it waited in a queue past
 *   its deadline (EXPIRED); both follow from a replica frozen past the step timeouts or a
 *   participant down past its retry budget;
 * - cancelled and answered 202: COMPENSATED, rolled back BY the cancel;
 * - cancelled and answered 409: as an "ok" input (the cancel came too late, or after a timeout
 *   rollback), or rolled back by the cancel if an earlier attempt got no answer (it may have been
 *   applied unseen);
 * - cancelled with no answer at all: as an "ok" input, or rolled back by the cancel.
 */
import { kindOf, type Accepted } from './chaos-load';

export type FinalStatus = 'COMPLETED' | 'COMPENSATED' | string;

export function statusProblem(saga: Pick<Accepted, 'index' | 'cancel'>, status: FinalStatus, rollbackReason: string | null): string | null {
  const kind = kindOf(saga.index);
  const rolledBackBy = (...reasons: string[]) => status === 'COMPENSATED' && rollbackReason !== null && reasons.includes(rollbackReason);
  const asOk = status === 'COMPLETED' || rolledBackBy('TIMEOUT', 'EXPIRED');
  let allowed: boolean;
  let expected: string;
  if (kind === 'declined' || kind === 'short') {
    allowed = status === 'COMPENSATED';
    expected = `COMPENSATED (${kind === 'declined' ? 'payment declined' : 'out of stock'})`;
  } else if (kind === 'ok' || !saga.cancel) {
    allowed = asOk;
    expected = 'COMPLETED, or COMPENSATED after a timeout or an expiry';
  } else if (saga.cancel.outcome === 'applied') {
    allowed = rolledBackBy('CANCELLED');
    expected = 'COMPENSATED by the cancel (202)';
  } else if (saga.cancel.outcome === 'refused' && !saga.cancel.afterLostAttempt) {
    allowed = asOk;
    expected = `COMPLETED, or COMPENSATED after a timeout or an expiry (cancel refused: ${saga.cancel.status})`;
  } else {
    allowed = asOk || rolledBackBy('CANCELLED');
    expected = 'COMPLETED, or COMPENSATED after a timeout, an expiry or by the cancel (its answer was lost)';
  }
  return allowed ? null : `${status}${rollbackReason ? ` (rollback: ${rollbackReason})` : ''}, expected ${expected}`;
}
