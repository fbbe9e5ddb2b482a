/**
 * Message identity on the wire (docs/semantics.md S4).
 *
 * Guarantees:
 * - A command's message id depends only on (saga id, step, direction): every retry of the same
 *   command carries the same id, so a participant can deduplicate on it.
 * - A correlation id adds the attempt number, so a reply can be matched to the exact attempt it
 *   answers (late replies for an older attempt are recognised) from the correlation id alone,
 *   which is all a stock @nestjs/microservices participant echoes back.
 * - Parsing never throws: malformed ids come back as `undefined`.
 */
export type Direction = 'action' | 'compensation';

export interface CommandAddress {
  sagaId: string;
  step: string;
  direction: Direction;
}

export interface AttemptAddress extends CommandAddress {
  attempt: number;
}

/** Step names are restricted (see validateDefinition) so '/' can separate the parts. */
export function commandMessageId(address: CommandAddress): string {
  return `${address.sagaId}/${address.step}/${address.direction}`;
}

export function correlationIdFor(address: AttemptAddress): string {
  return `${commandMessageId(address)}/${address.attempt}`;
}

export function parseCorrelationId(value: unknown): AttemptAddress | undefined {
  if (typeof value !== 'string') return undefined;
  const parts = value.split('/');
  if (parts.length !== 4) return undefined;
  const [sagaId, step, direction, attemptText] = parts;
  if (!sagaId || !step) return undefined;
  if (direction !== 'action' && direction !== 'compensation') return undefined;
  if (!/^[1-9][0-9]{0,8}$/.test(attemptText)) return undefined;
  return { sagaId, step, direction, attempt: Number(attemptText) };
}
