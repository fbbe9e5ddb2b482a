/**
 * Response shapes of the definition endpoints (Swagger documents them from these classes).
 *
 * Guarantees: a definition is shown as loaded, unchanged (definitions are data), next to its
 * fingerprint and origin, so an operator can tell exactly which content a saga is pinned to.
 */
import { ApiProperty } from '@nestjs/swagger';
import type { EffectivePolicies, ParticipantCatalog, SagaDefinition } from '#saga/core';
import type { LoadedVersion } from '../../definitions/definition-registry';
import type { JsonChange, StepChange } from '../../definitions/definition-diff';

export class DefinitionSummaryView {
  @ApiProperty({ example: 'place-order' }) name: string;
  @ApiProperty({ example: 1 }) version: number;
  @ApiProperty({ nullable: true, type: String }) description: string | null;
  @ApiProperty({ example: ['create-order', 'reserve-inventory'] }) steps: string[];
  @ApiProperty({ description: 'SHA-256 of the canonical JSON of the definition (key order and formatting do not matter)' }) fingerprint: string;
  @ApiProperty({ description: '`built-in`, the path of the file it was read from, or `api`', example: 'api' }) source: string;
  @ApiProperty({ nullable: true, type: String, description: 'Who registered it: an actor name, or `boot`' }) registeredBy: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) registeredAt: string | null;
}

export class StoredVersionView {
  @ApiProperty({ example: 'place-order' }) name: string;
  @ApiProperty({ example: 2 }) version: number;
  @ApiProperty() fingerprint: string;
  @ApiProperty({ example: 'api' }) source: string;
  @ApiProperty({ nullable: true, type: String }) registeredBy: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) registeredAt: string | null;
}

export class DefinitionView {
  @ApiProperty({ description: 'The saga definition as loaded (name, version, inputSchema, steps with commands, timeouts, retry policies, pivot)' })
  definition: SagaDefinition;
  @ApiProperty() fingerprint: string;
  @ApiProperty({ description: 'For each step: the queue its action and compensation commands are sent to' })
  routes: { step: string; action: { command: string; queue: string }; compensation: { command: string; queue: string } | null }[];
  @ApiProperty({
    description: "For each step: the timeout and retry policies that apply, after the step's own settings, the saga's defaults and the built-in defaults",
  })
  policies: ({ step: string } & EffectivePolicies)[];
}

export class CatalogView {
  @ApiProperty({ description: 'participant name → { queue, commands }' })
  participants: ParticipantCatalog['participants'];
}

class JsonChangeView {
  @ApiProperty({ example: 'steps.timeoutMs' }) path: string;
  @ApiProperty({ enum: ['added', 'removed', 'changed'] }) kind: string;
  @ApiProperty({ required: false, description: 'The old value (absent when added)' }) from?: unknown;
  @ApiProperty({ required: false, description: 'The new value (absent when removed)' }) to?: unknown;
}

class DiffSideView {
  @ApiProperty() version: number;
  @ApiProperty() fingerprint: string;
  @ApiProperty({ description: 'Sagas on this version that are RUNNING or COMPENSATING' }) unfinishedSagas: number;
}

class StepPlaceView {
  @ApiProperty() name: string;
  @ApiProperty() position: number;
}

class StepChangeView {
  @ApiProperty() name: string;
  @ApiProperty() fromPosition: number;
  @ApiProperty() toPosition: number;
  @ApiProperty({ type: [JsonChangeView], description: 'Paths relative to the step' }) changes: JsonChange[];
}

class StepsDiffView {
  @ApiProperty({ type: [StepPlaceView] }) added: StepPlaceView[];
  @ApiProperty({ type: [StepPlaceView] }) removed: StepPlaceView[];
  @ApiProperty({ type: [StepChangeView], description: 'Steps matched by name whose content or position changed' }) changed: StepChange[];
}

export class DefinitionDiffView {
  @ApiProperty() name: string;
  @ApiProperty({ type: DiffSideView }) from: DiffSideView;
  @ApiProperty({ type: DiffSideView }) to: DiffSideView;
  @ApiProperty() identical: boolean;
  @ApiProperty({ type: [JsonChangeView], description: 'Top-level fields other than steps and version' }) fields: JsonChange[];
  @ApiProperty({ type: StepsDiffView }) steps: StepsDiffView;
}

export const storedVersionView = (loaded: LoadedVersion): StoredVersionView => ({
  name: loaded.definition.name,
  version: loaded.definition.version,
  fingerprint: loaded.fingerprint,
  source: loaded.source,
  registeredBy: loaded.registeredBy,
  registeredAt: loaded.registeredAt?.toISOString() ?? null,
});

export const summaryView = (loaded: LoadedVersion): DefinitionSummaryView => {
  const { name, version, ...origin } = storedVersionView(loaded);
  const d = loaded.definition;
  return { name, version, description: d.description ?? null, steps: d.steps.map((s) => s.name), ...origin };
};
