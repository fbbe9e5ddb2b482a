/**
 * Reply bodies: how a participant's answer is read, and how the toolkit writes one.
 *
 * Replies use the body shape of @nestjs/microservices' RMQ transport, so a stock Nest handler
 * is understood without any code from this project:
 *   success            { "response": <result>, "isDisposed": true }
 *   business failure   { "err": { "code": "...", "message": "..." } }
 *   retryable error    { "err": { "code": "...", "message": "...", "retryable": true } }
 *   expired            { "err": { "code": "EXPIRED", "message": "..." } }
 * A stock handler that throws a plain Error produces Nest's "Internal server error" shape,
 * which is read as retryable (the handler crashed; trying again may work). A stock handler that
 * returns nothing (void, undefined, an empty Observable) makes Nest send only
 * `{ "isDisposed": true }` (JSON drops the undefined response): that is a success with result null.
 *
 * Guarantees: classifyReply never throws; anything it cannot read is `{ kind: 'malformed' }`
 * with a reason, so the caller can dead-letter it.
 */
export type ReplyOutcome =
  | { kind: 'success'; result: unknown }
  | { kind: 'failure'; code: string; message: string }
  | { kind: 'retryable'; code: string; message: string }
  | { kind: 'expired'; message: string };

export type ClassifiedReply = ReplyOutcome | { kind: 'malformed'; reason: string };

export const EXPIRED_CODE = 'EXPIRED';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNestInternalError(err: Record<string, unknown>): boolean {
  return err.status === 'error' && err.message === 'Internal server error';
}

export function classifyReply(body: unknown): ClassifiedReply {
  if (!isRecord(body)) return { kind: 'malformed', reason: 'reply body is not a JSON object' };
  if ('err' in body && body.err !== undefined && body.err !== null) {
    const err = body.err;
    if (typeof err === 'string') return { kind: 'failure', code: 'PARTICIPANT_ERROR', message: err };
    if (!isRecord(err)) return { kind: 'malformed', reason: '"err" must be an object or a string' };
    const message = typeof err.message === 'string' ? err.message : JSON.stringify(err);
    const code = typeof err.code === 'string' && err.code.length > 0 ? err.code : 'PARTICIPANT_ERROR';
    if (code === EXPIRED_CODE) return { kind: 'expired', message };
    if (err.retryable === true || isNestInternalError(err)) return { kind: 'retryable', code, message };
    return { kind: 'failure', code, message };
  }
  if ('response' in body) return { kind: 'success', result: body.response ?? null };
  if (body.isDisposed === true) return { kind: 'success', result: null };
  return { kind: 'malformed', reason: 'reply has neither "response" nor "err"' };
}

/** Writes a reply body in the shape classifyReply reads (used by the participant toolkit). */
export function replyBody(outcome: ReplyOutcome): Record<string, unknown> {
  switch (outcome.kind) {
    case 'success':
      return { response: outcome.result, isDisposed: true };
    case 'failure':
      return { err: { code: outcome.code, message: outcome.message }, isDisposed: true };
    case 'retryable':
      return { err: { code: outcome.code, message: outcome.message, retryable: true }, isDisposed: true };
    case 'expired':
      return { err: { code: EXPIRED_CODE, message: outcome.message }, isDisposed: true };
  }
}
