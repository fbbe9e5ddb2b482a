/**
 * The fingerprint of a saga definition: what tells "the same name@version again" from "other
 * content under a version already in use".
 *
 * Guarantees: SHA-256 (hex) of the definition's canonical JSON (keys sorted at every depth,
 * undefined members dropped as JSON drops them), so formatting and key order never change it
 * and any change of content does.
 */
import type { SagaDefinition } from '#saga/core';
import { inputHash } from '../runtime/input-hash';

export function definitionFingerprint(definition: SagaDefinition): string {
  return inputHash(JSON.parse(JSON.stringify(definition)) as unknown);
}
