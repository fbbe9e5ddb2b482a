/**
 * What a controller method gets through `@Ctx()`: the saga command's address and the toolkit's
 * open transaction. A Nest `BaseRpcContext` whose single argument is the toolkit's
 * CommandContext (or CompensationContext, for an undo).
 *
 * Guarantees:
 * - `manager` and `query` are bound to the transaction that also stores the command's dedupe
 *   record: what the method writes through them commits with that record or not at all (it is
 *   discarded on fail(), retry() or a throw). Never write through another connection.
 * - `query` and every other member survive destructuring (`const { query } = saga`).
 * - `action` is only there for an undo: the request and result stored when the action it undoes
 *   succeeded (an undo never runs for an action that was not applied). Reading it in an action
 *   throws, so a mix-up fails loudly instead of reading `undefined`.
 */
import { BaseRpcContext } from '@nestjs/microservices';
import type { EntityManager } from 'typeorm';
import type { AppliedAction, CommandContext, CompensationContext } from '../handlers';

export class SagaContext<ActionRequest = unknown, ActionResult = unknown> extends BaseRpcContext<[CommandContext]> {
  readonly sagaId: string;
  readonly step: string;
  /** 1 for the first send, +1 per retry by the orchestrator. */
  readonly attempt: number;
  /** Deterministic: the same on every retry of this command (`<saga id>/<step>/<direction>`). */
  readonly messageId: string;
  readonly pattern: string;
  /** Epoch ms; the command was checked to be unexpired before the method was called. */
  readonly expiresAt: number;
  /** Bound to the toolkit's transaction. */
  readonly manager: EntityManager;
  /** One parameterised statement in the toolkit's transaction, as a prepared statement. */
  readonly query: CommandContext['query'];
  private readonly applied: AppliedAction<ActionRequest, ActionResult> | undefined;

  constructor(command: CommandContext | CompensationContext<ActionRequest, ActionResult>) {
    super([command]);
    this.sagaId = command.sagaId;
    this.step = command.step;
    this.attempt = command.attempt;
    this.messageId = command.messageId;
    this.pattern = command.pattern;
    this.expiresAt = command.expiresAt;
    this.manager = command.manager;
    this.query = command.query.bind(command);
    this.applied = 'action' in command ? command.action : undefined;
  }

  /** True when this command is an undo (a compensation). */
  get isUndo(): boolean {
    return this.applied !== undefined;
  }

  /** The applied action an undo reverts: its pattern, its request as sent, its stored result. */
  get action(): AppliedAction<ActionRequest, ActionResult> {
    if (this.applied === undefined) throw new TypeError(`"${this.pattern}" is an action: only an undo has an applied action`);
    return this.applied;
  }

  /** The toolkit's own context object (what a defineAction/defineCompensation handler gets). */
  get command(): CommandContext {
    return this.args[0];
  }
}
