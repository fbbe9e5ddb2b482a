/**
 * Public entry of the fault-points library (`#saga/fault-points`): test-only crash switches at
 * named instants of the runtime and the participant toolkit, inert unless SAGA_FAULT_POINTS
 * names them. No framework, no database, no broker.
 */
export * from './fault-points';
