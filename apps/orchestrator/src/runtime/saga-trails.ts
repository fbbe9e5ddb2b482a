/**
 * What this process committed of the sagas a start request waits for (POST /sagas/{name}?waitMs),
 * version by version from the start, so the answer can be built without reading the saga back.
 *
 * Guarantees (docs/semantics.md S7: every write of a saga moves its version by one):
 * - A trail is only kept while it is unbroken: it begins at version 1 with the start's decision,
 *   and each later commit is added only when it wrote the version right after the trail's. A
 *   write this process did not record (another replica's, a duplicate's entry, a note, a timer
 *   handled elsewhere) leaves a gap in the versions, and the trail is dropped at the next commit
 *   that shows it; the caller then reads the saga as before. A write after the last recorded
 *   one is a later change: the trail is still exactly what the saga's rows were at its version.
 * - It holds what those rows hold: the state as committed, every history entry in commit order,
 *   and the ids of the pending timers (set, cancelled, claimed). A decision that cancels and sets
 *   the same timer id, or a history longer than `maxEntries`, drops the trail (rare: the caller
 *   reads instead).
 * - Trails live from begin() to end(); the caller ends each one, whatever happened.
 */
import type { Decision, HistoryEntry, SagaState } from '#saga/core';

/** What identifies a saga's start and never changes afterwards. */
export interface TrailStart {
  definitionFingerprint: string | null;
  businessKey: string | null;
}

export interface SagaTrail {
  /** The saga's version the trail describes. */
  version: number;
  state: SagaState;
  /** Every history entry up to `version`, in commit order. */
  history: HistoryEntry[];
  /** The ids of the saga's timer rows at `version`. */
  timers: Set<string>;
  start: TrailStart;
}

export class SagaTrails {
  private readonly trails = new Map<string, SagaTrail>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.trails.size;
  }

  /** Starts the trail of a saga just stored (version 1) by its first decision. */
  begin(decision: Decision, start: TrailStart): void {
    const trail: SagaTrail = { version: 0, state: decision.state, history: [], timers: new Set(), start };
    this.trails.set(decision.state.id, trail);
    this.extend(trail, decision, 1);
  }

  /** A commit of this process wrote `version` of saga `sagaId` with `decision`, having claimed
   *  (deleted) the timer `claimedTimer` if it names one. */
  record(sagaId: string, decision: Decision, version: number, claimedTimer?: string): void {
    const trail = this.trails.get(sagaId);
    if (trail) this.extend(trail, decision, version, claimedTimer);
  }

  /** The saga's trail, if still unbroken (it is left in place). */
  peek(sagaId: string): SagaTrail | undefined {
    return this.trails.get(sagaId);
  }

  /** Ends the trail; safe to call for a saga that has none. */
  end(sagaId: string): void {
    this.trails.delete(sagaId);
  }

  private extend(trail: SagaTrail, decision: Decision, version: number, claimedTimer?: string): void {
    const sagaId = decision.state.id;
    const cancelled = new Set(decision.cancelTimers);
    const clash = decision.timers.some((timer) => cancelled.has(timer.id));
    if (version !== trail.version + 1 || clash || trail.history.length + decision.history.length > this.maxEntries) {
      this.trails.delete(sagaId);
      return;
    }
    trail.version = version;
    trail.state = decision.state;
    trail.history.push(...decision.history);
    if (claimedTimer !== undefined) trail.timers.delete(claimedTimer);
    for (const id of cancelled) trail.timers.delete(id);
    for (const timer of decision.timers) trail.timers.add(timer.id);
  }
}
