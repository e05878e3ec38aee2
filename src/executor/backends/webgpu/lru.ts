/**
 * The cache the uniform cache and the bind group cache share: at most `capacity` values by string
 * key; a lookup that misses makes the value and, when the cache is full, drops one used least
 * recently, handing it to `evict`.
 *
 * Least recently used by the clock rule ("second chance"): a hit only marks its entry used, so
 * the hit path, taken by nearly every dispatch of a training step, is one map lookup. Moving the
 * entry to the back of the map at every hit, as a strict LRU does, cost twice the lookup itself
 * (1.5-1.9 us against 0.6-0.9 here). A miss on a full cache walks from the oldest entry: a marked
 * one is unmarked and moved to the back, the first unmarked one is dropped.
 */
export class LruCache<V> {
  hits = 0;
  misses = 0;
  private readonly entries = new Map<string, { value: V; used: boolean }>();

  constructor(
    private readonly capacity: number,
    private readonly evict: (value: V) => void = () => {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value kept for `key`, or `make()`'s, kept from now on. */
  get(key: string, make: () => V): V {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.hits++;
      entry.used = true;
      return entry.value;
    }
    this.misses++;
    const value = make();
    if (this.entries.size >= this.capacity) this.dropOne();
    this.entries.set(key, { value, used: false });
    return value;
  }

  /** Drops the oldest entry not used since it was last passed over. */
  private dropOne(): void {
    for (const [key, entry] of this.entries) {
      this.entries.delete(key);
      if (!entry.used) {
        this.evict(entry.value);
        return;
      }
      entry.used = false;
      this.entries.set(key, entry); // a second chance, at the back
    }
  }

  /** Empties the cache and returns what it held. */
  clear(): V[] {
    const held = [...this.entries.values()].map((e) => e.value);
    this.entries.clear();
    return held;
  }
}
