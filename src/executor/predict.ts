/** Loads a model exported by `tl run` and ranks the labels for image files, or images held in memory. */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decodeImage } from './data/decode-image.ts';
import { walkImages } from './data/list-images.ts';
import { readRegularFile } from './data/regular-file.ts';
import { ExecutorError } from './errors.ts';
import { foldBatchNorms } from './fold-batchnorm.ts';
import { applyPreprocess, type Preprocess } from './zoo/index.ts';
import { readTfjsModel } from './zoo/tfjs-files.ts';

export interface Ranking {
  /** The k likeliest labels, likeliest first; empty when the image could not be read. */
  readonly top: readonly { readonly label: string; readonly probability: number }[];
  /** Why the image could not be read; null when it was ranked. */
  readonly error: string | null;
}

export interface Prediction extends Ranking {
  readonly file: string;
}

export interface PredictOptions {
  /** Also score each image's mirror image and take the mean (as `evaluate ... tta` scores a test set). */
  readonly tta?: boolean;
}

export interface ExportedModel {
  readonly model: tf.LayersModel;
  readonly labels: readonly string[];
  readonly preprocess: Preprocess & { readonly inputSize: number };
}

async function readJson<T>(path: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    throw new ExecutorError('bad-export', `${path} is missing or not JSON (${(err as Error).message}); is this a folder written by 'export' in a tl run?`);
  }
}

export async function loadExported(dir: string): Promise<ExportedModel> {
  const info = await stat(dir).catch(() => null);
  if (!info) throw new ExecutorError('bad-export', `model folder ${dir} does not exist; give the folder an 'export' statement wrote in a tl run`);
  if (!info.isDirectory()) throw new ExecutorError('bad-export', `${dir} is a file; give the folder an 'export' statement wrote in a tl run (it holds model.json, labels.json and preprocess.json)`);
  const labels = await readJson<string[]>(join(dir, 'labels.json'));
  const preprocess = await readJson<Preprocess & { inputSize: number }>(join(dir, 'preprocess.json'));
  const artifacts = await readTfjsModel(join(dir, 'model.json')).catch((err: Error) => {
    throw new ExecutorError('bad-export', `${err.message}; export the model again with tl run`);
  });
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  return { model, labels, preprocess };
}

/**
 * Ranks the labels for each image file, and each image under a folder (sorted, depth first, as
 * `data` folders are read), with each BatchNorm folded into its convolution (fold-batchnorm.ts).
 * A file that is missing or not an image gets its error and the others are still ranked, so one
 * bad file among many loses nothing.
 */
export async function predictFiles(exported: ExportedModel, paths: readonly string[], k: number, options: PredictOptions = {}): Promise<Prediction[]> {
  const files = await imageFiles(paths);
  const rankings = await rank(exported, files.map((file) => () => readImageFile(file)), k, options);
  return rankings.map((r, i) => ({ file: files[i]!, ...r, error: r.error && `cannot read image ${files[i]}: ${r.error}` }));
}

/** Image files named, and those under folders named (sorted, depth first); a file, or a folder without images, as it is, for the read to say why. */
export async function imageFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const images = (await stat(path).catch(() => null))?.isDirectory() ? await walkImages(path) : [];
    if (images.length === 0) files.push(path);
    for (const image of images) files.push(image);
  }
  return files;
}

/** A file's bytes, or an error that says in a few words why there are none. */
export async function readImageFile(file: string): Promise<Uint8Array> {
  try {
    return await readRegularFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder with no images in it' : (err as Error).message, { cause: err });
  }
}

/**
 * Ranks the labels for encoded images held in memory (PNG, JPEG, WebP, GIF, TIFF, AVIF: what sharp
 * decodes), in their order. An image that cannot be decoded gets its error; the others are ranked.
 *
 * @example
 * const model = await loadModel('runs/quickstart');
 * const [ranking] = await predictImages(model, [await readFile('boot.png')], 3);
 */
export async function predictImages(exported: ExportedModel, images: readonly Uint8Array[], k: number, options: PredictOptions = {}): Promise<Ranking[]> {
  return rank(exported, images.map((bytes) => () => Promise.resolve(bytes)), k, options);
}

async function rank(exported: ExportedModel, images: readonly (() => Promise<Uint8Array>)[], k: number, options: PredictOptions): Promise<Ranking[]> {
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`k must be a whole number of at least 1, got ${k}`);
  const folded = foldBatchNorms(exported.model);
  try {
    const out: Ranking[] = [];
    const size = exported.preprocess.inputSize;
    for (const read of images) {
      let pixels: Uint8Array;
      try {
        pixels = await decodeImage(await read(), { size, fit: 'fill' });
      } catch (err) {
        out.push({ top: [], error: (err as Error).message });
        continue;
      }
      const probs = tf.tidy(() => {
        const x = applyPreprocess(tf.tensor4d(pixels, [1, size, size, 3], 'int32').toFloat(), exported.preprocess);
        if (!options.tta) return exported.model.predict(x) as tf.Tensor;
        return tf.mean(exported.model.predict(tf.concat([x, tf.reverse(x, 2)])) as tf.Tensor, 0);
      });
      const p = (await probs.data()) as Float32Array;
      probs.dispose();
      const top = [...p]
        .map((probability, i) => ({ label: exported.labels[i] ?? String(i), probability }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, k);
      out.push({ top, error: null });
    }
    return out;
  } finally {
    folded.restore();
  }
}
