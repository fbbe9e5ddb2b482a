/**
 * The ids of outbox rows whose commands the broker confirmed, waiting to be deleted. The
 * committer's next write statement deletes them as a part of itself (saga-sql.ts: every hot write
 * carries a `published` CTE), so under load a confirmed row costs no transaction of its own;
 * rows no write came for are deleted on their own by the publisher (`takeAged`).
 *
 * Guarantees (docs/semantics.md S4):
 * - Only ids the broker confirmed come here, so a row is never deleted before its command is
 *   safely in the broker.
 * - An id taken by a write that then fails is given back (`restore`) and deleted by a later
 *   write or by the publisher: a confirmed row is never forgotten while the process runs (if it
 *   dies, the relay publishes the row again: at-least-once, never lost).
 * - Aging by ticks: an id is `aged` once a whole tick passed without a write taking it; only aged
 *   ids are deleted on their own, so a busy process runs no separate DELETE at all, and an idle
 *   one deletes within two ticks.
 */

/** The most ids one write statement deletes (the rest wait for the next). */
export const MAX_PUBLISHED_PER_WRITE = 1_000;

export class PublishedOutbox {
  private fresh: string[] = [];
  private aged: string[] = [];

  /** Ids waiting (fresh and aged). */
  get size(): number {
    return this.fresh.length + this.aged.length;
  }

  /** A confirmed row. */
  add(id: string): void {
    this.fresh.push(id);
  }

  /** Up to `max` ids for a write statement to delete, aged first; the caller restores them if the write fails. */
  take(max = MAX_PUBLISHED_PER_WRITE): string[] {
    if (this.size === 0) return [];
    const fromAged = this.aged.splice(0, max);
    const fromFresh = fromAged.length < max ? this.fresh.splice(0, max - fromAged.length) : [];
    return fromAged.length === 0 ? fromFresh : fromFresh.length === 0 ? fromAged : [...fromAged, ...fromFresh];
  }

  /** Ids a failed write had taken: they are aged (no write deleted them yet). */
  restore(ids: readonly string[]): void {
    if (ids.length > 0) this.aged.push(...ids);
  }

  /** One tick: returns the ids that waited a whole tick (to delete on their own), and ages the rest. */
  takeAged(): string[] {
    const aged = this.aged;
    this.aged = this.fresh;
    this.fresh = [];
    return aged;
  }

  /** Everything waiting (shutdown: deleted on their own before the database closes). */
  takeAll(): string[] {
    const all = [...this.aged, ...this.fresh];
    this.aged = [];
    this.fresh = [];
    return all;
  }
}
