/**
 * The wire protocol shared by the orchestrator and participants (docs/protocol.md).
 */
export * from './message-ids';
export * from './headers';
export * from './reply';
export * from './command-envelope';
