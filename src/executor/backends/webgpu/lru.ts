/**
 * The least-recently-used cache the uniform cache and the bind group cache share: at most
 * `capacity` values by string key; a lookup that misses makes the value and, when the cache is
 * full, drops the least recently used one, handing it to `evict`.
 */
export class LruCache<V> {
  hits = 0;
  misses = 0;
  private readonly entries = new Map<string, V>();

  constructor(
    private readonly capacity: number,
    private readonly evict: (value: V) => void = () => {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value kept for `key`, or `make()`'s, kept from now on. */
  get(key: string, make: () => V): V {
    let value = this.entries.get(key);
    if (value !== undefined) {
      this.hits++;
      this.entries.delete(key); // set again below: most recently used last
    } else {
      this.misses++;
      value = make();
      if (this.entries.size >= this.capacity) {
        const [oldest, old] = this.entries.entries().next().value as [string, V];
        this.entries.delete(oldest);
        this.evict(old);
      }
    }
    this.entries.set(key, value);
    return value;
  }

  /** Empties the cache and returns what it held. */
  clear(): V[] {
    const held = [...this.entries.values()];
    this.entries.clear();
    return held;
  }
}
