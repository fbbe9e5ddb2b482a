/**
 * Named errors of the saga core, each with a stable string `code` callers can switch on.
 *
 * Guarantees: only programming or configuration mistakes are thrown; expected outcomes (a
 * failed step, a rejected cancel) are values in the engine's decision, never exceptions.
 */
export abstract class SagaError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface DefinitionProblem {
  /** Where in the definition, e.g. "steps[2].compensation.command". */
  path: string;
  message: string;
}

export class InvalidDefinitionError extends SagaError {
  readonly code = 'INVALID_DEFINITION';
  constructor(
    readonly source: string,
    readonly problems: DefinitionProblem[],
  ) {
    super(`Saga definition ${source} is invalid:\n${problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n')}`);
  }
}

/** The engine was handed an event that cannot apply to the state it was given. */
export class EngineMisuseError extends SagaError {
  readonly code = 'ENGINE_MISUSE';
}
