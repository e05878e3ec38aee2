/**
 * What each format's reader hands the loader: class names, the images to decode, and how.
 */
import type { Decoder, Item } from './decode-items.ts';

export type Source<T extends Item = Item> = {
  /** Class names in label order (for validation data: the training classes). */
  classes: string[];
  items: T[];
  decode: Decoder<T>;
  /** The file or folder to name in an error about one class. */
  classPath: (label: number) => string;
};

/** Keeps the first `limit` items of each class, in listing order. */
export function limitPerClass<T extends Item>(items: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined) return [...items];
  const seen = new Map<number, number>();
  return items.filter((item) => {
    const n = seen.get(item.label) ?? 0;
    seen.set(item.label, n + 1);
    return n < limit;
  });
}
