/**
 * Public entry of the pure saga core: definitions and their validation, the engine's
 * decide(), and the wire protocol helpers. No framework imports and no I/O here.
 */
export * from './protocol';
export * from './definition/saga-definition';
export * from './definition/participant-catalog';
export * from './engine/saga-state';
export * from './engine/saga-events';
export * from './engine/decision';
export * from './errors';
export * from './definition/payload-template';
export * from './definition/validate-definition';
export * from './definition/input-schema';
export * from './definition/step-policies';
export * from './definition/business-key';
export { decide } from './engine/decide';
export { setJsonKey } from './engine/json-copy';
export { attemptTimerId, deadlineTimerId } from './engine/decision-builder';
export { retryDelayMs } from './engine/backoff';
export { expiryGraceMs } from './engine/step-dispatch';
