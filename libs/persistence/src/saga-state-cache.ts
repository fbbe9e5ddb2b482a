/**
 * The last committed state of running sagas this process wrote, so a reply batch can skip the
 * lock-and-read round trip (the committer's held path, SagaStore.claimAndWrite) and commit in one.
 *
 * Guarantees:
 * - A cached entry is only a guess: every write based on it checks the saga's version in the
 *   database, so a state changed meanwhile (another replica, an operator, a timer) is never
 *   written over; the caller then forgets the entry and locks and reads as before.
 * - Entries are plain copies of what was committed, shaped as the store reads them back (JSON
 *   round trip: no undefined, no shared objects with the engine's decision).
 * - Finished sagas are dropped; at most `capacity` entries, the least recently written go first.
 *   Capacity 0 turns the cache off.
 */
import { isTerminal, type SagaState } from '#saga/core';
import { asStored } from './saga-store';
import type { LoadedSaga } from './saga-write-rows';

export class SagaStateCache {
  private readonly entries = new Map<string, LoadedSaga>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The held state of each of `ids`, or undefined unless every one of them is held. */
  getAll(ids: readonly string[]): LoadedSaga[] | undefined {
    const found: LoadedSaga[] = [];
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (!entry) return undefined;
      found.push(entry);
    }
    return found;
  }

  /** Records `state` as committed at `version` (a finished saga is forgotten instead). */
  remember(state: SagaState, version: number): void {
    this.entries.delete(state.id);
    if (this.capacity === 0 || isTerminal(state.status)) return;
    this.entries.set(state.id, { state: asStored(state), version });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(ids: Iterable<string>): void {
    for (const id of ids) this.entries.delete(id);
  }
}
