/**
 * Building and slicing packed image sets.
 */
import type { ImageSet } from './types.ts';

export function emptySet(size: number): ImageSet {
  return { images: new Uint8Array(0), labels: new Int32Array(0), count: 0, size, sources: [] };
}

/** The images at `indices`, in that order, copied into a new set. */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const bytes = set.size * set.size * 3;
  const images = new Uint8Array(indices.length * bytes);
  const labels = new Int32Array(indices.length);
  const sources: string[] = [];
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    images.set(set.images.subarray(i * bytes, (i + 1) * bytes), k * bytes);
    labels[k] = set.labels[i]!;
    sources.push(set.sources[i]!);
  }
  return { images, labels, count: indices.length, size: set.size, sources };
}

/** Images per class, e.g. to check that every class survived decoding. */
export function classCounts(set: ImageSet, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const label of set.labels) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}
