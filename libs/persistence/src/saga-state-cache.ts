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
 * - Finished sagas are dropped; at most `capacity` entries and `maxBytes` of state (measured as
 *   the states' JSON), the least recently written go first; a state larger than the whole
 *   budget is not held. Capacity 0 turns the cache off.
 */
import { isTerminal, type SagaState } from '#saga/core';
import { storedCopy } from './saga-store';
import type { LoadedSaga } from './saga-write-rows';

/** What SagaStateCache holds at most by default, measured as the states' JSON. */
export const DEFAULT_STATE_CACHE_BYTES = 64 * 1024 * 1024;

export class SagaStateCache {
  /** Insertion order is write order: the first entry is the least recently written. */
  private readonly entries = new Map<string, { loaded: LoadedSaga; bytes: number }>();
  private heldBytes = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxBytes = DEFAULT_STATE_CACHE_BYTES,
  ) {}

  /** The size of what is held, measured as the states' JSON (characters). */
  get bytes(): number {
    return this.heldBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The held state of each of `ids`, or undefined unless every one of them is held. */
  getAll(ids: readonly string[]): LoadedSaga[] | undefined {
    const found: LoadedSaga[] = [];
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (!entry) return undefined;
      found.push(entry.loaded);
    }
    return found;
  }

  /** Records `state` as committed at `version` (a finished saga is forgotten instead). */
  remember(state: SagaState, version: number): void {
    this.drop(state.id);
    if (this.capacity === 0 || isTerminal(state.status)) return;
    const copy = storedCopy(state);
    if (copy.jsonLength > this.maxBytes) return; // a state larger than the whole budget is not held
    this.entries.set(state.id, { loaded: { state: copy.state, version }, bytes: copy.jsonLength });
    this.heldBytes += copy.jsonLength;
    while (this.entries.size > this.capacity || this.heldBytes > this.maxBytes) this.drop(this.entries.keys().next().value!);
  }

  forget(ids: Iterable<string>): void {
    for (const id of ids) this.drop(id);
  }

  private drop(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.heldBytes -= entry.bytes;
  }
}
