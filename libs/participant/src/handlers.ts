/**
 * How a service declares the commands it handles: each pattern is either an action or the
 * compensation (undo) of one named action pattern. Handlers receive the command data and a
 * context whose `manager` is bound to the toolkit's open transaction, so everything the handler
 * writes commits together with the dedupe record of the command (docs/semantics.md S4), or not at all.
 *
 * Guarantees:
 * - A registry never holds two handlers for one pattern, and every compensation names an action
 *   registered in the same registry (checked at construction: HandlerRegistrationError).
 * - A compensation handler receives the request and result stored when its action succeeded;
 *   it never runs for an action that was not applied.
 */
import type { EntityManager } from 'typeorm';
import { HandlerRegistrationError } from './errors';
import type { HandlerOutcome } from './outcomes';

export interface CommandContext {
  sagaId: string;
  step: string;
  attempt: number;
  /** Deterministic: the same on every retry of this command. */
  messageId: string;
  pattern: string;
  /** Epoch ms; the command was checked to be unexpired before the handler was called. */
  expiresAt: number;
  /** Bound to the toolkit's transaction: use it (never a fresh connection) for every write. */
  manager: EntityManager;
  /** Runs one parameterised statement in the same transaction as a prepared statement: parsed
   *  once per connection instead of on every command (the cheapest way to run a hot statement). */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

/** The stored record of the action a compensation undoes. `request` is the action's raw data. */
export interface AppliedAction<Request = unknown, Result = unknown> {
  pattern: string;
  request: Request;
  result: Result;
}

export interface CompensationContext<ActionRequest = unknown, ActionResult = unknown> extends CommandContext {
  action: AppliedAction<ActionRequest, ActionResult>;
}

/** Anything with a throwing `parse` (a zod schema fits). A throw becomes failure INVALID_COMMAND,
 *  replied, plus a copy of the command in the dead-letter queue with the error as the reason. */
export interface DataSchema<D> {
  parse(data: unknown): D;
}

export interface ActionHandler<D = unknown, R = unknown> {
  readonly kind: 'action';
  readonly pattern: string;
  readonly schema?: DataSchema<D>;
  handle(data: D, context: CommandContext): Promise<HandlerOutcome<R>>;
}

export interface CompensationHandler<D = unknown, R = unknown, ActionRequest = unknown, ActionResult = unknown> {
  readonly kind: 'compensation';
  readonly pattern: string;
  /** The action pattern this compensation undoes. */
  readonly undoes: string;
  readonly schema?: DataSchema<D>;
  handle(data: D, context: CompensationContext<ActionRequest, ActionResult>): Promise<HandlerOutcome<R>>;
}

/** Any handler, whatever its data and result types: `handle` is declared as a method, whose
 *  parameters TypeScript checks both ways, so a handler of typed data is one of these. */
export type ParticipantHandler = ActionHandler<unknown, unknown> | CompensationHandler<unknown, unknown, unknown, unknown>;

export function defineAction<D, R>(
  pattern: string,
  spec: { schema?: DataSchema<D>; handle: (data: D, context: CommandContext) => Promise<HandlerOutcome<R>> },
): ActionHandler<D, R> {
  return { kind: 'action', pattern, schema: spec.schema, handle: spec.handle };
}

export function defineCompensation<D, R, ActionRequest = unknown, ActionResult = unknown>(
  pattern: string,
  undoes: string,
  spec: {
    schema?: DataSchema<D>;
    handle: (data: D, context: CompensationContext<ActionRequest, ActionResult>) => Promise<HandlerOutcome<R>>;
  },
): CompensationHandler<D, R, ActionRequest, ActionResult> {
  return { kind: 'compensation', pattern, undoes, schema: spec.schema, handle: spec.handle };
}

export class HandlerRegistry {
  private readonly byPattern = new Map<string, ParticipantHandler>();

  constructor(handlers: readonly ParticipantHandler[]) {
    if (handlers.length === 0) throw new HandlerRegistrationError('a participant needs at least one handler');
    for (const handler of handlers) {
      if (!handler.pattern) throw new HandlerRegistrationError('a handler has an empty pattern');
      if (this.byPattern.has(handler.pattern)) throw new HandlerRegistrationError(`two handlers for pattern "${handler.pattern}"`);
      this.byPattern.set(handler.pattern, handler);
    }
    for (const handler of handlers) {
      if (handler.kind !== 'compensation') continue;
      const undone = this.byPattern.get(handler.undoes);
      if (!undone || undone.kind !== 'action') {
        throw new HandlerRegistrationError(`compensation "${handler.pattern}" undoes "${handler.undoes}", which is not a registered action`);
      }
    }
  }

  get(pattern: string): ParticipantHandler | undefined {
    return this.byPattern.get(pattern);
  }

  get patterns(): string[] {
    return [...this.byPattern.keys()];
  }
}
