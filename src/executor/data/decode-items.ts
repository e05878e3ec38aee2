/**
 * Decodes a list of images into one packed `ImageSet`, several at a time, skipping (with a
 * warning) or stopping at the ones that cannot be read.
 */
import { DataError, at } from './data-error.ts';
import { DAMAGED, decodeImage, type ResizeTo } from './decode-image.ts';
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

/** Skipped images named one by one; past this many, one warning counts the rest (a wrong manifest base would name thousands). */
export const NAMED_SKIPS = 10;

type Skip = { index: number; item: Item; reason: string };

/**
 * Decodes `items` (listed in `from`, a folder or manifest, named in the summary warning) into one set.
 * Unreadable ones are skipped or stop the load, as `options.onCorrupt` says; skipped ones are warned of
 * in list order once all are decoded, the first `NAMED_SKIPS` by name and the rest in one count.
 */
export async function decodeItems<T extends Item>(items: readonly T[], decode: Decoder<T>, options: DecodeOptions, from: string): Promise<ImageSet> {
  const size = options.imageSize;
  const to: ResizeTo = { size, fit: options.fit ?? 'fill' };
  const images = Pixels.alloc(items.length, size * size * 3);
  const skips: Skip[] = [];
  const ok = await mapPool(
    items,
    options.concurrency ?? 8,
    async (item, i) => {
      let pixels: Uint8Array;
      try {
        pixels = await decode(item, to);
      } catch (error) {
        if (error instanceof DataError) throw error;
        skips.push({ index: i, item, reason: failed(item, error, options) });
        return false;
      }
      images.image(i).set(pixels);
      return true;
    },
    options.signal,
  );
  const all: ImageSet = { images, labels: Int32Array.from(items, (it) => it.label), count: items.length, size, sources: items.map((it) => it.source) };
  if (skips.length === 0) return all;
  warnSkips(skips, items.length, from, options);
  // Some were skipped: pack the survivors.
  return subset(all, ok.flatMap((good, i) => (good ? [i] : [])));
}

/** Returns why the item cannot be read (to skip it), or throws a DataError (to stop). */
function failed(item: Item, error: unknown, options: DecodeOptions): string {
  const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
  const reason = missing ? 'file not found' : error instanceof Error ? error.message : String(error);
  if ((options.onCorrupt ?? 'skip') === 'skip') return reason;
  const where = item.listedAt ?? { path: item.source };
  throw new DataError(
    missing ? 'data-not-found' : 'corrupt-image',
    `cannot read image '${item.source}'${listedAt(item)}: ${reason}; replace or delete the file, or let the loader skip unreadable images`,
    { ...where, cause: error },
  );
}

function listedAt(item: Item): string {
  return item.listedAt ? ` (listed at ${at(item.listedAt.path, item.listedAt.line)})` : '';
}

/** Names the first skipped images in list order, then counts the rest by reason in one warning. */
function warnSkips(skips: Skip[], total: number, from: string, options: DecodeOptions): void {
  skips.sort((a, b) => a.index - b.index);
  for (const { item, reason } of skips.slice(0, NAMED_SKIPS)) options.warn?.(`skipped image '${item.source}'${listedAt(item)}: ${reason}`);
  const rest = skips.length - NAMED_SKIPS;
  if (rest <= 0) return;
  // Damaged files are counted together, whatever the decoder's own words after the reason.
  const byReason = new Map<string, number>();
  for (const { reason } of skips) {
    const kind = reason.startsWith(DAMAGED) ? DAMAGED : reason;
    byReason.set(kind, (byReason.get(kind) ?? 0) + 1);
  }
  const common = [...byReason].sort((a, b) => b[1] - a[1]);
  const reasons = common.slice(0, 3).map(([kind, n]) => `${kind}: ${count(n)}`);
  if (common.length > 3) reasons.push(`${count(common.length - 3)} other reasons: ${count(common.slice(3).reduce((sum, [, n]) => sum + n, 0))}`);
  const percent = (100 * skips.length) / total;
  options.warn?.(
    `skipped ${count(rest)} more images of '${from}': ${count(skips.length)} of its ${count(total)} images (${percent < 1 ? percent.toPrecision(1) : Math.round(percent)}%) could not be read (${reasons.join('; ')})`,
  );
}

const count = (n: number): string => n.toLocaleString('en-US');
