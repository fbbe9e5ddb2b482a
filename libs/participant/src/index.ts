/**
 * Public entry of the participant toolkit (`#saga/participant`): everything a service needs to
 * handle saga commands correctly (dedupe, tombstones, expiry, one transaction, ack after commit).
 */
export * from './errors';
export * from './outcomes';
export * from './handlers';
export { decideProcessing, settleOutcome, NEVER_APPLIED_REASON } from './decision';
export type { StoredCommand, DecisionInput, ProcessingDecision, Settlement } from './decision';
export { CommandProcessor } from './processor';
export type { ProcessResult, Disposition, AmqpProperties, CommandProcessorOptions, AcceptedCommand, Acceptance } from './processor';
export { MAX_BATCH_COMMANDS } from './command-pipeline';
export { ParticipantConsumer, DEFAULT_MAX_BATCH_SIZE, DEFAULT_PARTICIPANT_PREFETCH } from './consumer';
export type { ParticipantConsumerOptions } from './consumer';
export * from './participant.module';
export * from './service-config';
export { ProcessedCommands1763700000000 } from './migrations/1763700000000-ProcessedCommands';
export { ProcessedCommandsLastSeen1765510000000 } from './migrations/1765510000000-ProcessedCommandsLastSeen';
export { PARTICIPANT_TOOLKIT_MIGRATIONS } from './migrations/toolkit-migrations';
export * from './processed-commands-retention';
export { ADVISORY_LOCK_NAMESPACE } from './processed-commands';
export * from './participant-service';
export * from './nest';
