/**
 * Decodes a list of images into one packed `ImageSet`, several at a time, skipping (with a
 * warning) or stopping at the ones that cannot be read.
 */
import { DataError, at } from './data-error.ts';
import { decodeImage, type ResizeTo } from './decode-image.ts';
import { subset } from './image-set.ts';
import { Pixels } from './pixels.ts';
import { mapPool } from './pool.ts';
import { readRegularFile } from './regular-file.ts';
import type { DecodeOptions, ImageSet } from './types.ts';

export type Item = {
  /** The image's file path, or `file.idx#123`. */
  source: string;
  label: number;
  /** Where the item was listed, when that is a manifest row. */
  listedAt?: { path: string; line: number };
};

/** Turns one item into `size × size × 3` bytes. */
export type Decoder<T extends Item> = (item: T, to: ResizeTo) => Promise<Uint8Array>;

/** Where warnings go when the caller gives no `warn`: skipping data silently would hide a problem. */
export function withDefaultWarn<T extends DecodeOptions>(options: T): T & { warn: (message: string) => void } {
  return { ...options, warn: options.warn ?? ((message: string) => console.warn(`warning: ${message}`)) };
}

/** Reads the item's file and decodes it with sharp. */
export const decodeFile: Decoder<Item> = async (item, to) => decodeImage(await readRegularFile(item.source), to);

export async function decodeItems<T extends Item>(items: readonly T[], decode: Decoder<T>, options: DecodeOptions): Promise<ImageSet> {
  const size = options.imageSize;
  const to: ResizeTo = { size, fit: options.fit ?? 'fill' };
  const images = Pixels.alloc(items.length, size * size * 3);
  const ok = await mapPool(
    items,
    options.concurrency ?? 8,
    async (item, i) => {
      let pixels: Uint8Array;
      try {
        pixels = await decode(item, to);
      } catch (error) {
        if (error instanceof DataError) throw error;
        return failed(item, error, options);
      }
      images.image(i).set(pixels);
      return true;
    },
    options.signal,
  );
  const all: ImageSet = { images, labels: Int32Array.from(items, (it) => it.label), count: items.length, size, sources: items.map((it) => it.source) };
  if (ok.every(Boolean)) return all;
  // Some were skipped: pack the survivors.
  return subset(all, ok.flatMap((good, i) => (good ? [i] : [])));
}

/** Warns and returns false (skip), or throws a DataError (stop). */
function failed(item: Item, error: unknown, options: DecodeOptions): false {
  const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
  const reason = missing ? 'file not found' : error instanceof Error ? error.message : String(error);
  const listed = item.listedAt ? ` (listed at ${at(item.listedAt.path, item.listedAt.line)})` : '';
  if ((options.onCorrupt ?? 'skip') === 'skip') {
    options.warn?.(`skipped image '${item.source}'${listed}: ${reason}`);
    return false;
  }
  const where = item.listedAt ?? { path: item.source };
  throw new DataError(
    missing ? 'data-not-found' : 'corrupt-image',
    `cannot read image '${item.source}'${listed}: ${reason}; replace or delete the file, or let the loader skip unreadable images`,
    { ...where, cause: error },
  );
}
