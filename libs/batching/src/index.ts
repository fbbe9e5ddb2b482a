/**
 * Public entry of the batching library (`#saga/batching`): group commit, the one way work that
 * arrives together is handled together (the orchestrator's replies and starts, a participant's
 * commands). Pure scheduling: no I/O, no framework.
 */
export * from './group-commit';
