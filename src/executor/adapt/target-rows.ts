/** Target rows for each source batch: shuffled passes over a pool of target indices, so every row is used. */
import type { Rng } from '../augment/index.ts';

export function targetSampler(pool: () => Int32Array, rng: Rng): (count: number) => Int32Array {
  let order = new Int32Array(0);
  let at = 0;
  return (count) => {
    const rows = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      if (at >= order.length) {
        order = pool().slice();
        if (order.length === 0) return new Int32Array(0);
        for (let k = order.length - 1; k > 0; k--) {
          const j = Math.floor(rng.next() * (k + 1));
          [order[k], order[j]] = [order[j]!, order[k]!];
        }
        at = 0;
      }
      rows[i] = order[at++]!;
    }
    return rows;
  };
}
