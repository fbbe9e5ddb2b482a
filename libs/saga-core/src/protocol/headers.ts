/**
 * AMQP header names carried by every command (docs/protocol.md lists them for participant authors).
 *
 * Guarantees: these strings are part of the public wire protocol; they never change meaning.
 */
export const SagaHeaders = {
  sagaId: 'x-saga-id',
  sagaName: 'x-saga-name',
  step: 'x-saga-step',
  direction: 'x-saga-direction',
  attempt: 'x-saga-attempt',
  /** Epoch milliseconds after which the participant must not execute the command. */
  expiresAt: 'x-saga-expires-at',
  /** Set on dead-lettered messages: why the message was parked. */
  deadLetterReason: 'x-dead-letter-reason',
  /** Set on dead-lettered messages: the queue the message was taken from. */
  deadLetterSource: 'x-dead-letter-source',
  /** Set on dead-lettered messages we park ourselves: when (epoch milliseconds). */
  deadLetteredAt: 'x-dead-lettered-at',
  /** Set on a replayed dead letter: the id of the dead letter it was replayed from. */
  replayOf: 'x-replay-of',
  /** Set on a replayed dead letter: the operator who replayed it. */
  replayedBy: 'x-replayed-by',
} as const;
