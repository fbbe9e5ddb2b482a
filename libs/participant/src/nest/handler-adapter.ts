/**
 * One Nest message handler (a `@MessagePattern` method behind Nest's guards, interceptors, pipes
 * and exception filters) as the toolkit's ParticipantHandler, and what its answer means.
 *
 * The contract (strict: an answer that could be a mistake is never stored as a success):
 *   returns ok(r) / fail(c, m) / retry(c, m)         that outcome (an Observable: exactly one)
 *   returns anything else (a plain value, nothing)  an error: rolled back, answered retryable
 *                                                    HANDLER_ERROR (say ok(value) instead)
 *   throws RpcException({ code, message })          fail(code, message): read exactly as the
 *     … with retryable: true, or code EXPIRED       orchestrator reads a stock Nest handler's
 *     … a string, or an object without code         RpcException (docs/protocol.md §3), except
 *                                                    that EXPIRED is retry(), never stored
 *   throws anything else                             rolled back, retryable HANDLER_ERROR (Nest's
 *                                                    exception layer logs it)
 *   the payload fails SagaValidationPipe             fail INVALID_COMMAND + dead-letter copy
 *
 * Guarantees:
 * - Nest's exception layer hands back only "Internal server error" for an unexpected throw, so
 *   whether the database went away under the handler is asked of the transaction itself (one
 *   `SELECT 1`, on that path only): if it is unreachable, the throw is the driver's error, and
 *   the toolkit requeues the message instead of spending a saga retry on the outage.
 * - A thrown value the toolkit cannot read is an error (retryable), never a success.
 */
import { EXPIRED_CODE, classifyReply } from '#saga/core';
import { isDatabaseUnavailable } from '#saga/persistence';
import type { MessageHandler } from '@nestjs/microservices';
import { isObservable, lastValueFrom, toArray, type Observable } from 'rxjs';
import type { CommandContext, ParticipantHandler } from '../handlers';
import { fail, retry, ToolkitCodes, type HandlerOutcome } from '../outcomes';
import { InvalidSagaPayload } from './dto-validation';
import { SagaContext } from './saga-context';

type Answer = { value: unknown } | { error: unknown };

function isOutcome(value: unknown): value is HandlerOutcome {
  const kind = typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : undefined;
  return kind === 'success' || kind === 'failure' || kind === 'retryable';
}

function isNestInternalError(error: unknown): boolean {
  const { status, message } = (typeof error === 'object' && error !== null ? error : {}) as { status?: unknown; message?: unknown };
  return status === 'error' && message === 'Internal server error';
}

/** Calls the Nest handler; a rejection or an erroring Observable both become `{ error }`. */
async function answer(pattern: string, nest: MessageHandler, data: unknown, saga: SagaContext): Promise<Answer> {
  let returned: unknown;
  try {
    returned = await nest(data, saga);
  } catch (error) {
    return { error };
  }
  if (!isObservable(returned)) return { value: returned };
  let values: unknown[];
  try {
    values = await lastValueFrom((returned as Observable<unknown>).pipe(toArray()));
  } catch (error) {
    return { error };
  }
  if (values.length !== 1) throw new TypeError(`the handler of "${pattern}" emitted ${values.length} values; emit exactly one outcome`);
  return { value: values[0] };
}

/** An unexpected throw: the driver's error when the transaction lost the database, else ours. */
async function unexpected(pattern: string, context: CommandContext): Promise<never> {
  try {
    await context.query('SELECT 1');
  } catch (probe) {
    if (isDatabaseUnavailable(probe)) throw probe;
  }
  throw new Error(`the handler of "${pattern}" threw (Nest's RpcExceptionsHandler logged the error)`);
}

/** What a thrown value (after Nest's exception filters) means; see the header. */
function thrownOutcome(pattern: string, error: unknown): HandlerOutcome | undefined {
  if (error instanceof InvalidSagaPayload) return fail(ToolkitCodes.invalidCommand, `invalid data for "${pattern}": ${error.message}`.slice(0, 2000));
  const read = classifyReply({ err: error });
  switch (read.kind) {
    case 'failure':
      return fail(read.code, read.message);
    case 'retryable':
      return retry(read.code, read.message);
    case 'expired':
      return retry(EXPIRED_CODE, read.message);
    default:
      return undefined;
  }
}

export async function runNestHandler(pattern: string, nest: MessageHandler, data: unknown, context: CommandContext): Promise<HandlerOutcome> {
  const result = await answer(pattern, nest, data, new SagaContext(context));
  if ('value' in result) {
    if (isOutcome(result.value)) return result.value;
    throw new TypeError(
      `the handler of "${pattern}" returned ${result.value === undefined ? 'nothing' : 'a plain value'}: return ok(result), fail(code, message) or retry(code, message)`,
    );
  }
  if (isNestInternalError(result.error)) return unexpected(pattern, context);
  const outcome = thrownOutcome(pattern, result.error);
  if (outcome === undefined) throw new TypeError(`the handler of "${pattern}" threw an unreadable error: ${String(result.error)}`);
  return outcome;
}

/** The toolkit handler for one Nest registration; `undoes` makes it a compensation. */
export function participantHandler(pattern: string, nest: MessageHandler, undoes: string | undefined): ParticipantHandler {
  const handle = (data: unknown, context: CommandContext) => runNestHandler(pattern, nest, data, context);
  return undoes === undefined ? { kind: 'action', pattern, handle } : { kind: 'compensation', pattern, undoes, handle };
}
