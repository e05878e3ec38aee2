/**
 * Turns one encoded image (JPEG, PNG, WebP, GIF, TIFF, AVIF: whatever sharp's libvips reads) or one
 * raw pixel grid into `size × size × 3` RGB bytes.
 *
 * - EXIF orientation is applied, so phone photos are upright.
 * - Grayscale (and CMYK, 16-bit...) is converted to 8-bit sRGB; alpha is dropped, as PIL's
 *   `convert('RGB')` does, rather than composited onto a colour the model never saw.
 * - Animated images contribute their first frame.
 * - Resizing uses sharp's default Lanczos-3 kernel; see `Fit` for fill versus cover.
 */
import sharp, { type Sharp } from 'sharp';
import type { Fit } from './types.ts';

export type ResizeTo = { size: number; fit: Fit };

/** Decodes an encoded image; rejects with the reason, in words, when the bytes are not a readable image. */
export async function decodeImage(bytes: Uint8Array, to: ResizeTo): Promise<Uint8Array> {
  try {
    // failOn 'warning' (sharp's default, stated to keep it): a truncated file is corrupt, not half an image.
    return await toRgb(sharp(bytes, { autoOrient: true, failOn: 'warning' }), to);
  } catch (err) {
    const said = (err as Error).message ?? String(err);
    if (/exceeds pixel limit/i.test(said)) throw new Error(await tooLarge(bytes), { cause: err });
    throw new Error(undecodable(said), { cause: err });
  }
}

/**
 * sharp refuses, from the header alone, to decode more than 0x3FFF² pixels (its limitInputPixels),
 * which keeps a small file that claims a huge size (a decompression bomb) from taking the memory.
 */
async function tooLarge(bytes: Uint8Array): Promise<string> {
  const limit = 'more than the 268 million pixels TL decodes; scale it down first';
  try {
    const { width, height } = await sharp(bytes, { limitInputPixels: false }).metadata();
    return `the image is ${width} × ${height} pixels, ${limit}`;
  } catch {
    return `the image has ${limit}`;
  }
}

/** The start of the reason for an image the decoder gave up on part-way (its own words follow in parentheses). */
export const DAMAGED = 'the image is truncated or damaged';

/** sharp's reason for an image it cannot decode, as a user reads it. */
function undecodable(said: string): string {
  if (/input buffer is empty/i.test(said)) return 'the file is empty';
  if (/unsupported image format/i.test(said)) return 'not an image, or not in a format TL reads (JPEG, PNG, WebP, GIF, TIFF, AVIF)';
  // With failOn 'warning', libvips's own warning is not in the message.
  if (/failOn setting/i.test(said)) return DAMAGED;
  if (/read error|premature|truncat|corrupt|bad (huffman|marker)|invalid/i.test(said)) return `${DAMAGED} (${said})`;
  return said;
}

/** Resizes raw 8-bit pixels (1 or 3 channels, HWC), e.g. one image of an IDX file. */
export async function resizeRaw(
  pixels: Uint8Array,
  shape: { width: number; height: number; channels: 1 | 3 },
  to: ResizeTo,
): Promise<Uint8Array> {
  if (shape.width === to.size && shape.height === to.size) {
    return shape.channels === 3 ? pixels.slice() : grayToRgb(pixels);
  }
  return toRgb(sharp(pixels, { raw: shape }), to);
}

async function toRgb(image: Sharp, to: ResizeTo): Promise<Uint8Array> {
  const { data, info } = await image
    .removeAlpha()
    .toColourspace('srgb')
    .resize(to.size, to.size, { fit: to.fit, position: 'centre' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (info.channels === 3) return bytes;
  if (info.channels === 1) return grayToRgb(bytes);
  throw new Error(`decoder returned ${info.channels} channels, expected 3`);
}

function grayToRgb(gray: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(gray.length * 3);
  for (let i = 0, j = 0; i < gray.length; i++, j += 3) {
    const v = gray[i]!;
    rgb[j] = v;
    rgb[j + 1] = v;
    rgb[j + 2] = v;
  }
  return rgb;
}
