/**
 * Which statements each pooled connection has prepared with SQL PREPARE, bounded: a participant
 * whose handlers send ever new SQL texts must not grow a connection's prepared statements (and
 * the server's memory for them) without end.
 *
 * Guarantees:
 * - At most `capacity` names per connection; making room evicts the least recently used, and
 *   the caller sends their DEALLOCATE (the names come back from makeRoom()); a caller needing
 *   more statements at once than the bound is refused (RangeError), never let past it.
 * - The knowledge dies with the connection (WeakMap), as the server's statements do.
 * - Counters for a metric: statements prepared and evicted by this process, since it started.
 */

export const DEFAULT_PREPARED_CAPACITY = 256;

const stats = { prepared: 0, evicted: 0 };

/** Statements prepared and evicted by this process (all connections), for a metric. */
export function preparedStatementStats(): { prepared: number; evicted: number } {
  return { ...stats };
}

export class PreparedCache {
  private static readonly byConnection = new WeakMap<object, PreparedCache>();
  /** Each prepared name and when it was last used (a counter): a use is one Map.set. */
  private readonly names = new Map<string, number>();
  private clock = 0;

  private constructor(private bound: number) {}

  /** The connection's cache, bounded from now on by `capacity` (the latest caller's bound wins;
   *  a lower one takes effect at the next prepare). */
  static of(connection: object, capacity = DEFAULT_PREPARED_CAPACITY): PreparedCache {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`prepared statement capacity must be a positive integer, got ${capacity}`);
    let cache = PreparedCache.byConnection.get(connection);
    if (!cache) {
      cache = new PreparedCache(capacity);
      PreparedCache.byConnection.set(connection, cache);
    }
    cache.bound = capacity;
    return cache;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  get size(): number {
    return this.names.size;
  }

  /** Marks `name` as just used; false when it is not prepared on this connection. */
  touch(name: string): boolean {
    if (!this.names.has(name)) return false;
    this.names.set(name, ++this.clock);
    return true;
  }

  /**
   * Room for `incoming` (names about to be prepared): the names to DEALLOCATE first, already
   * removed here. Never evicts one of `keep` (statements the caller is about to use).
   */
  makeRoom(incoming: number, keep: ReadonlySet<string>): string[] {
    const needed = Math.max(incoming, keep.size);
    if (needed > this.bound) throw new RangeError(`${needed} statements at once exceed the bound of ${this.bound} prepared statements per connection`);
    const excess = this.names.size + incoming - this.bound;
    if (excess <= 0) return [];
    const evicted = [...this.names]
      .filter(([name]) => !keep.has(name))
      .sort((a, b) => a[1] - b[1])
      .slice(0, excess)
      .map(([name]) => name);
    for (const name of evicted) this.names.delete(name);
    return evicted;
  }

  /** Records names a round trip prepared. */
  added(prepared: readonly string[]): void {
    for (const name of prepared) this.names.set(name, ++this.clock);
    stats.prepared += prepared.length;
  }

  /** Counts names a round trip deallocated (already removed by makeRoom). */
  deallocated(count: number): void {
    stats.evicted += count;
  }
}
