/** Target rows for each source batch: shuffled passes over a pool of target indices, so every row is used. */
import type { Rng } from '../augment/index.ts';

/** Where a sampler's passes stand: the running pass's order and the place in it. */
export interface SamplerState {
  readonly order: readonly number[];
  readonly at: number;
}

export interface TargetSampler {
  (count: number): Int32Array;
  /** For a checkpoint, so that a resumed run draws the rows an uninterrupted one would. */
  state(): SamplerState;
  restore(state: SamplerState): void;
}

export function targetSampler(pool: () => Int32Array, rng: Rng): TargetSampler {
  let order = new Int32Array(0);
  let at = 0;
  const rowsFor = (count: number): Int32Array => {
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
  return Object.assign(rowsFor, {
    state: (): SamplerState => ({ order: Array.from(order), at }),
    restore(state: SamplerState) {
      order = Int32Array.from(state.order);
      at = state.at;
    },
  });
}
