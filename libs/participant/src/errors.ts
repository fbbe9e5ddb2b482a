/**
 * Named errors of the participant toolkit. Every error carries a stable string `code` that logs,
 * alerts and tests can match on; messages are for humans and may change.
 *
 * Guarantees: codes never change meaning; `cause` keeps the underlying error when there is one.
 */
export abstract class ParticipantError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Handler registrations that cannot work together (duplicate pattern, undo of an unknown action). */
export class HandlerRegistrationError extends ParticipantError {
  readonly code = 'PARTICIPANT_HANDLER_REGISTRATION';
}

/** The service's configuration (environment or overrides) does not validate. */
export class ParticipantConfigError extends ParticipantError {
  readonly code = 'PARTICIPANT_CONFIG_INVALID';
}

/** A database step around the handler (lock, lookup, store, commit) failed: the message is requeued. */
export class ProcessingInfrastructureError extends ParticipantError {
  readonly code = 'PARTICIPANT_INFRASTRUCTURE';
}

/** The consumer was asked to start twice, or to start after it was stopped. */
export class ConsumerStateError extends ParticipantError {
  readonly code = 'PARTICIPANT_CONSUMER_STATE';
}
