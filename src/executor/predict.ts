/** Loads a model exported by `tl run` and ranks the labels for image files. */
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

export interface Prediction {
  readonly file: string;
  /** The k likeliest labels, likeliest first; empty when the file could not be read as an image. */
  readonly top: readonly { readonly label: string; readonly probability: number }[];
  /** Why the file could not be read as an image; null when it was ranked. */
  readonly error: string | null;
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
 * bad file among many loses nothing. With `tta`, an image's probabilities are the mean of its and
 * its mirror image's (as `evaluate ... tta` scores a test set).
 */
export async function predictFiles(exported: ExportedModel, paths: readonly string[], k: number, options: { readonly tta?: boolean } = {}): Promise<Prediction[]> {
  const files: string[] = [];
  for (const path of paths) {
    const images = (await stat(path).catch(() => null))?.isDirectory() ? await walkImages(path) : [];
    if (images.length === 0) files.push(path); // a file, or a folder without images: rank() says why
    for (const image of images) files.push(image);
  }
  const folded = foldBatchNorms(exported.model);
  try {
    return await rank(exported, files, k, options.tta ?? false);
  } finally {
    folded.restore();
  }
}

async function rank(exported: ExportedModel, files: readonly string[], k: number, tta: boolean): Promise<Prediction[]> {
  const out: Prediction[] = [];
  const size = exported.preprocess.inputSize;
  for (const file of files) {
    let pixels: Uint8Array;
    try {
      pixels = await decodeImage(await readRegularFile(file), { size, fit: 'fill' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder with no images in it' : (err as Error).message;
      out.push({ file, top: [], error: `cannot read image ${file}: ${why}` });
      continue;
    }
    const probs = tf.tidy(() => {
      const x = applyPreprocess(tf.tensor4d(pixels, [1, size, size, 3], 'int32').toFloat(), exported.preprocess);
      if (!tta) return exported.model.predict(x) as tf.Tensor;
      return tf.mean(exported.model.predict(tf.concat([x, tf.reverse(x, 2)])) as tf.Tensor, 0);
    });
    const p = (await probs.data()) as Float32Array;
    probs.dispose();
    const top = [...p]
      .map((probability, i) => ({ label: exported.labels[i] ?? String(i), probability }))
      .sort((a, b) => b.probability - a.probability)
      .slice(0, k);
    out.push({ file, top, error: null });
  }
  return out;
}
