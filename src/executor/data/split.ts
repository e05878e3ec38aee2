/**
 * The seeded, stratified train/validation split used when a plan gives no `val` data.
 */
import { createRng } from '../augment/rng.ts';

export type Split = {
  /** Indices into the labels, ascending. */
  train: Int32Array;
  val: Int32Array;
  /** Classes with a single example: kept for training, so never validated. */
  singletons: number[];
};

/**
 * Holds out `fraction` of each class for validation (rounded, but always leaving at least one
 * training example per class), choosing which ones with a generator seeded by `seed`. The same
 * labels and seed give the same split on every machine; each class keeps its proportion in both
 * halves.
 */
export function stratifiedSplit(labels: Int32Array, classCount: number, fraction: number, seed: number): Split {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`split fraction must be in [0, 1), got ${fraction}`);
  const byClass: number[][] = Array.from({ length: classCount }, () => []);
  labels.forEach((label, i) => byClass[label]?.push(i));
  const rng = createRng(seed);
  const train: number[] = [];
  const val: number[] = [];
  const singletons: number[] = [];
  byClass.forEach((members, label) => {
    if (members.length === 1 && fraction > 0) singletons.push(label);
    const order = rng.shuffle([...members]);
    const held = fraction === 0 ? 0 : Math.min(Math.round(members.length * fraction), members.length - 1);
    // One push an index: a class may hold more images than a call takes arguments.
    order.forEach((index, k) => (k < held ? val : train).push(index));
  });
  const ascending = (xs: number[]) => Int32Array.from(xs).sort();
  return { train: ascending(train), val: ascending(val), singletons };
}
