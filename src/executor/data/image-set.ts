/**
 * Building and slicing packed image sets.
 */
import { Pixels } from './pixels.ts';
import type { ImageSet } from './types.ts';

export function emptySet(size: number): ImageSet {
  return { images: Pixels.alloc(0, size * size * 3), labels: new Int32Array(0), count: 0, size, sources: [] };
}

/** The images at `indices`, in that order, as a new set; the pixels are shared, not copied (Pixels.select). */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const labels = new Int32Array(indices.length);
  const sources: string[] = [];
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    labels[k] = set.labels[i]!;
    sources.push(set.sources[i]!);
  }
  return { images: set.images.select(indices), labels, count: indices.length, size: set.size, sources };
}

/** Images per class, e.g. to check that every class survived decoding. */
export function classCounts(set: Pick<ImageSet, 'labels'>, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const label of set.labels) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}
