/**
 * MNIST-style IDX files: an images file (`*-images-idx3-ubyte`, optionally `.gz`) and the labels
 * file beside it (`*-labels-idx1-ubyte`), class names '0', '1'... unless a `labels.txt` (one name a
 * line, in label order) sits in the same folder.
 *
 * Format (big-endian): two zero bytes, a type byte (0x08: unsigned byte, the only one images use),
 * the number of dimensions, one uint32 per dimension, then the data.
 */
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError, notFound } from './data-error.ts';
import { NotARegularFileError, readRegularFile } from './regular-file.ts';

export type IdxImages = {
  /** count × height × width × channels bytes. */
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: 1 | 3;
  imagesPath: string;
  labelsPath: string;
};

/** The labels file for an images file: `images-idx3` becomes `labels-idx1` in the file name. */
export function labelsPathFor(imagesPath: string): string | null {
  const name = basename(imagesPath);
  const swapped = name.replace(/images([-.])idx[34]/, 'labels$1idx1');
  return swapped === name ? null : join(dirname(imagesPath), swapped);
}

async function readMaybeGzip(path: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path);
  } catch (error) {
    if (!(error instanceof NotARegularFileError)) throw error;
    throw new DataError('bad-idx', `'${path}' cannot be read: ${error.message}; format idx expects an IDX file`, { path, cause: error });
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (error) {
      throw new DataError('bad-idx', `'${path}' looks gzipped but does not decompress (${(error as Error).message}); download it again`, { path, cause: error });
    }
  }
  return bytes;
}

/** Reads a file that may also exist with or without a `.gz` suffix. */
async function readEither(path: string): Promise<{ bytes: Uint8Array; path: string } | null> {
  const alternatives = path.endsWith('.gz') ? [path, path.slice(0, -3)] : [path, `${path}.gz`];
  for (const candidate of alternatives) {
    try {
      return { bytes: await readMaybeGzip(candidate), path: candidate };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') {
        throw new DataError('bad-idx', `'${candidate}' is a folder; format idx expects the images file itself, e.g. 'train-images-idx3-ubyte.gz'`, {
          path: candidate,
          cause: error,
        });
      }
      if (code !== 'ENOENT') throw error;
    }
  }
  return null;
}

function parseIdx(bytes: Uint8Array, path: string): { dims: number[]; data: Uint8Array } {
  const bad = (why: string) => new DataError('bad-idx', `'${path}' is not a usable IDX file: ${why}`, { path });
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw bad('it does not start with the IDX magic number (0x0000)');
  if (bytes[2] !== 0x08) throw bad(`element type 0x${bytes[2]!.toString(16)} is not unsigned byte (0x08)`);
  const ndim = bytes[3]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * ndim) throw bad('the header is cut short');
  const dims = Array.from({ length: ndim }, (_, k) => view.getUint32(4 + 4 * k));
  const expected = dims.reduce((a, b) => a * b, 1);
  const data = bytes.subarray(4 + 4 * ndim);
  if (data.length !== expected) throw bad(`the header promises ${expected} bytes of data (${dims.join('×')}), found ${data.length}`);
  return { dims, data };
}

export async function readIdx(imagesPath: string): Promise<IdxImages> {
  const images = await readEither(imagesPath);
  if (!images) throw notFound('IDX images file', imagesPath);
  const labelsGuess = labelsPathFor(images.path);
  if (!labelsGuess) {
    throw new DataError(
      'bad-idx',
      `cannot tell where the labels of '${images.path}' are: name the images file like 'train-images-idx3-ubyte' so its labels file is 'train-labels-idx1-ubyte' beside it`,
      { path: images.path },
    );
  }
  const labels = await readEither(labelsGuess);
  if (!labels) {
    throw new DataError('data-not-found', `the labels file '${labelsGuess}' for '${images.path}' does not exist; put it beside the images file`, {
      path: labelsGuess,
    });
  }
  const img = parseIdx(images.bytes, images.path);
  const lab = parseIdx(labels.bytes, labels.path);
  const [count, height, width, channels = 1] = img.dims;
  if (img.dims.length < 3 || img.dims.length > 4 || (channels !== 1 && channels !== 3) || !count || !height || !width) {
    throw new DataError('bad-idx', `'${images.path}' has shape ${img.dims.join('×')}; expected images × height × width (× 1 or 3 channels)`, {
      path: images.path,
    });
  }
  if (lab.dims.length !== 1 || lab.dims[0] !== count) {
    throw new DataError('bad-idx', `'${labels.path}' holds ${lab.dims.join('×')} labels but '${images.path}' holds ${count} images; the two files must match`, {
      path: labels.path,
    });
  }
  return { pixels: img.data, labels: lab.data, count, height, width, channels, imagesPath: images.path, labelsPath: labels.path };
}

/** Names from `labels.txt` beside the images file, or null when there is none. */
export async function readClassNames(imagesPath: string): Promise<string[] | null> {
  const file = join(dirname(imagesPath), 'labels.txt');
  let text: string;
  try {
    text = (await readRegularFile(file)).toString('utf8');
  } catch {
    return null;
  }
  const names = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return names.length > 0 ? names : null;
}
