/** Validation and final metrics: loss, accuracy, top-5, per-class precision/recall, confusion, test accuracy. */
import * as tf from '@tensorflow/tfjs';
import type { DataFormat, Origin, Plan } from '../plan/schema.ts';
import { EVAL_BATCH, imageBatch, predictAll } from './batches.ts';
import { loadDataset, type Dataset, type ImageSet, type LoadOptions } from './data/index.ts';
import { ExecutorError, wrap } from './errors.ts';
import type { EpochMetrics, FinalMetrics } from './events.ts';
import type { Inputs } from './inputs.ts';
import { argmaxRows, confusion, perClass, topK } from './metrics.ts';
import type { Network } from './network.ts';
import type { Preprocess } from './zoo/index.ts';

export async function evaluate(model: tf.LayersModel, inputs: Inputs, set: ImageSet, name: 'train' | 'val', classes: number) {
  const { data } = await predictAll(set.count, EVAL_BATCH, (idx) => inputs.batch(name, idx), model);
  return scoreSet(data, set.labels, classes);
}

export function scoreSet(scores: Float32Array, labels: Int32Array, classes: number) {
  let loss = 0;
  for (let i = 0; i < labels.length; i++) loss -= Math.log(Math.max(scores[i * classes + labels[i]!]!, 1e-7));
  const predicted = argmaxRows(scores, classes);
  const accuracy = predicted.reduce((a, p, i) => a + (p === labels[i] ? 1 : 0), 0) / Math.max(1, labels.length);
  return { loss: loss / Math.max(1, labels.length), accuracy, top5: classes > 5 ? topK(scores, classes, labels, 5) : null, predicted };
}

export type Score = ReturnType<typeof scoreSet>;

/** The full network on the validation images (null when there are none). */
export async function finalValidation(net: Network, data: Dataset, classes: number): Promise<Score | null> {
  const full: Inputs = { batch: (set, idx) => imageBatch(set === 'train' ? data.train : data.val, idx, net.base.preprocess), model: net.full, cachedAt: null, dispose() {} };
  return data.val.count > 0 ? evaluate(net.full, full, data.val, 'val', classes) : null;
}

/** The `evaluate` statement's images, with labels as indices of the training classes. */
export interface TestSet {
  readonly images: ImageSet;
  readonly labels: Int32Array;
  /** Score each image as the mean of its and its mirror image's scores (`evaluate ... tta`). */
  readonly tta: boolean;
}

/**
 * Loads the `evaluate` set (null without one). `runPlan` calls it before training, so a wrong
 * path or a class the training data lacks fails at once instead of after the training it would lose.
 */
export async function loadTestSet(plan: Plan, classes: readonly string[], imageSize: number, options: { readonly baseDir: string; readonly onCorrupt?: 'skip' | 'stop' }): Promise<TestSet | null> {
  if (!plan.evaluate) return null;
  const { format, path, origin, tta } = plan.evaluate;
  const unknown = (missing: string[]) => `evaluate set has classes the training data lacks: ${missing.join(', ')}`;
  const set = await loadLabelled({ format, path, origin }, classes, unknown, { baseDir: options.baseDir, imageSize, seed: plan.seed, onCorrupt: options.onCorrupt ?? 'skip' });
  return { ...set, tta: tta ?? false };
}

/**
 * Reads labelled images in any format `data` reads (class folders, a csv manifest, an IDX file),
 * all of them (no split), with labels as indices into `classes`: a set may lack some of those, but
 * a class not among them fails (`unknown-label`), since no score could count it right.
 */
export async function loadLabelled(
  source: { readonly format: DataFormat; readonly path: string; readonly origin?: Origin },
  classes: readonly string[],
  unknown: (missing: string[]) => string,
  options: LoadOptions,
): Promise<{ readonly images: ImageSet; readonly labels: Int32Array }> {
  const origin = source.origin ?? null;
  const set = await wrap('data-load', origin, () => loadDataset({ format: source.format, path: source.path, split: 0, val: null }, options));
  const remap = set.classes.map((c) => classes.indexOf(c));
  const missing = set.classes.filter((_, i) => remap[i]! < 0);
  if (missing.length) throw new ExecutorError('unknown-label', unknown(missing), origin);
  return { images: set.train, labels: set.train.labels.map((l) => remap[l]!) };
}

/** Each image's class scores (row-major, images x classes); with `tta`, the mean of its and its mirror image's. */
export async function scoreImages(model: tf.LayersModel, images: ImageSet, preprocess: Preprocess, tta: boolean): Promise<Float32Array> {
  const batch = (idx: Int32Array) => imageBatch(images, idx, preprocess);
  const { data: scores } = await predictAll(images.count, EVAL_BATCH, batch, model);
  if (tta) {
    // The mirror images: each batch reversed along its width (NHWC).
    const { data: mirrored } = await predictAll(images.count, EVAL_BATCH, (idx) => tf.tidy(() => tf.reverse(batch(idx), 2)), model);
    for (let i = 0; i < scores.length; i++) scores[i] = (scores[i]! + mirrored[i]!) / 2;
  }
  return scores;
}

/** `val` is measured by the caller (before adaptation turns the network to the target domain); `test` was loaded before training. */
export async function finalMetrics(net: Network, data: Dataset, testSet: TestSet | null, classes: string[], last: EpochMetrics | null, val: Score | null): Promise<FinalMetrics> {
  let test: Score | null = null;
  if (testSet) {
    test = scoreSet(await scoreImages(net.full, testSet.images, net.base.preprocess, testSet.tta), testSet.labels, classes.length);
  }
  const basis = test && testSet ? { predicted: test.predicted, labels: testSet.labels } : val ? { predicted: val.predicted, labels: data.val.labels } : null;
  const c = basis ? confusion(classes, basis.labels, basis.predicted) : confusion(classes, [], []);
  return {
    loss: last?.loss ?? Number.NaN,
    accuracy: last?.accuracy ?? Number.NaN,
    valLoss: val?.loss ?? null,
    valAccuracy: val?.accuracy ?? null,
    valTop5: val?.top5 ?? null,
    testAccuracy: test?.accuracy ?? null,
    testTop5: test?.top5 ?? null,
    perClass: perClass(c),
    confusion: c.matrix,
    classes,
  };
}
