/**
 * The cache behind the webgpu backend's uniform and bind group caches
 * (src/executor/backends/webgpu/lru.ts): plain JavaScript, so tested here on any machine.
 */
import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/executor/backends/webgpu/lru.ts';

describe('LruCache', () => {
  it('makes a value once per key and counts hits and misses', () => {
    const cache = new LruCache<number>(4);
    let made = 0;
    const get = (key: string) => cache.get(key, () => ++made);
    expect([get('a'), get('b'), get('a'), get('a'), get('b')]).toEqual([1, 2, 1, 1, 2]);
    expect({ hits: cache.hits, misses: cache.misses, size: cache.size }).toEqual({ hits: 3, misses: 2, size: 2 });
  });

  it('past its capacity drops one not used since it came in or was last passed over, handing it to evict', () => {
    const evicted: string[] = [];
    const cache = new LruCache<string>(3, (value) => evicted.push(value));
    const get = (key: string) => cache.get(key, () => key);
    get('a');
    get('b');
    get('c');
    get('a'); // used: a second chance when the cache is full
    get('d'); // a passed over (to the back), b dropped
    expect(evicted).toEqual(['b']);
    get('e'); // c is the oldest now, unused
    expect(evicted).toEqual(['b', 'c']);
    get('f'); // a was unmarked when passed over, and not used since
    expect(evicted).toEqual(['b', 'c', 'a']);
    expect(cache.size).toBe(3);
    const misses = cache.misses;
    expect([get('d'), get('e'), get('f')]).toEqual(['d', 'e', 'f']);
    expect(cache.misses).toBe(misses);
  });

  it('when every entry was used, drops the oldest after passing over them all once', () => {
    const evicted: string[] = [];
    const cache = new LruCache<string>(2, (value) => evicted.push(value));
    const get = (key: string) => cache.get(key, () => key);
    get('a');
    get('b');
    get('a');
    get('b');
    get('c');
    expect(evicted).toEqual(['a']);
    expect(cache.size).toBe(2);
  });

  it('clear returns everything held and empties it', () => {
    const cache = new LruCache<number>(8);
    for (const [i, key] of ['x', 'y', 'z'].entries()) cache.get(key, () => i);
    expect(cache.clear().sort()).toEqual([0, 1, 2]);
    expect(cache.size).toBe(0);
  });
});
