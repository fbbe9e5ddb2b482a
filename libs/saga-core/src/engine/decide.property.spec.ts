/**
 * Property tests of decide() over random definitions (1–6 steps, optional pivot, random budgets
 * and timeouts) and random event sequences (replies of every kind, timeouts, retry timers, late
 * and duplicate replies, stale timers, cancels, deadlines), each drained until nothing is in
 * flight. The invariants themselves live in testing/saga-simulator.ts (docs/semantics.md S2, S3, S4).
 */
import fc from 'fast-check';
import { scenarioArb } from '../testing/saga-arbitraries';
import { runScenario, SagaSimulator } from '../testing/saga-simulator';
import type { SagaStatus } from './saga-state';

const RUNS = 300;

describe('decide: properties', () => {
  it('always ends COMPLETED, COMPENSATED or COMPENSATION_FAILED with exactly the applied steps undone, in reverse', () => {
    const seen: Record<SagaStatus | 'cancel' | 'pivot' | 'possiblyApplied', number> = {
      RUNNING: 0,
      COMPENSATING: 0,
      COMPLETED: 0,
      COMPENSATED: 0,
      COMPENSATION_FAILED: 0,
      RESOLVED_MANUALLY: 0,
      cancel: 0,
      pivot: 0,
      possiblyApplied: 0,
    };
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const summary = runScenario(scenario);
        seen[summary.status]++;
        if (summary.cancelAccepted) seen.cancel++;
        if (summary.pivotDone) seen.pivot++;
        if (summary.possiblyApplied > 0) seen.possiblyApplied++;
      }),
      { numRuns: RUNS },
    );
    // The generator must actually reach every interesting situation, or the property proves little.
    for (const key of ['COMPLETED', 'COMPENSATED', 'COMPENSATION_FAILED', 'cancel', 'pivot', 'possiblyApplied'] as const) {
      expect({ [key]: seen[key] > 0 }).toEqual({ [key]: true });
    }
  });

  it('ends COMPLETED or COMPENSATED when every compensation eventually succeeds', () => {
    fc.assert(
      fc.property(
        scenarioArb.map((scenario) => ({ ...scenario, compensationsSucceed: true })),
        (scenario) => ['COMPLETED', 'COMPENSATED'].includes(runScenario(scenario).status),
      ),
      { numRuns: RUNS },
    );
  });

  it('message ids depend only on (saga, step, direction): another saga id changes nothing else', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const one = new SagaSimulator(scenario.definition, scenario.compensationsSucceed, 'saga-one');
        const two = new SagaSimulator(scenario.definition, scenario.compensationsSucceed, 'saga-two');
        one.run(scenario.moves);
        two.run(scenario.moves);
        const strip = (sim: SagaSimulator) =>
          sim.sent.map(({ messageId, correlationId, sagaId, payload, ...rest }) => ({ ...rest, id: messageId.replace(sagaId, '*'), corr: correlationId.replace(sagaId, '*') }));
        expect(strip(two)).toEqual(strip(one));
        const ids = (sim: SagaSimulator) => sim.sent.map((c) => c.messageId);
        expect(ids(one).filter((id) => ids(two).includes(id))).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});
