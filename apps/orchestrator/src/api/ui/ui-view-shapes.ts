/**
 * Compile-time proof that the admin UI reads the API's shapes: each answer the API returns
 * (its view classes) must be assignable to the type the browser code declares for it
 * (apps/orchestrator/ui/src/views.ts). A renamed or retyped field fails `npm run build` and
 * `npm run lint:types` here instead of breaking a page silently. Nothing here runs.
 */
import type * as Ui from '../../../ui/src/views';
import type { DeadLetterCountsView, DeadLetterPageView, DeadLetterView } from '../../dead-letters/dead-letter-views';
import type { WhoAmIView } from '../auth/me.controller';
import type { DefinitionDiffView, DefinitionSummaryView, StoredVersionView } from '../definitions/definition-views';
import type { BulkActionView } from '../sagas/saga-bulk.dto';
import type { RepairView } from '../sagas/saga-repairs.dto';
import type { HistoryPageView, SagaCountsView, SagaPageView, SagaView, ValidationErrorView } from '../sagas/saga-views';

type Fits<Api extends Browser, Browser> = [Api, Browser];

export type UiViewShapes = [
  Fits<WhoAmIView, Ui.WhoAmI>,
  Fits<SagaPageView, Ui.SagaPage>,
  Fits<SagaCountsView, Ui.SagaCounts>,
  Fits<SagaView, Ui.Saga>,
  Fits<HistoryPageView, Ui.HistoryPage>,
  Fits<RepairView, Ui.RepairResult>,
  Fits<BulkActionView, Ui.BulkResult>,
  Fits<ValidationErrorView, Ui.ErrorBody>,
  Fits<DeadLetterPageView, Ui.DeadLetterPage>,
  Fits<DeadLetterView, Ui.DeadLetter>,
  Fits<DeadLetterCountsView, Ui.DeadLetterCounts>,
  Fits<DefinitionSummaryView, Ui.DefinitionSummary>,
  Fits<DefinitionDiffView, Ui.DefinitionDiff>,
  Fits<StoredVersionView, Ui.StoredVersion>,
];
