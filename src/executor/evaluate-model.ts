/**
 * Scores a model a run exported on labelled images: what `tl evaluate` prints. Beside accuracy,
 * top-5 and loss, the answers a practitioner looks for next: which classes it gets wrong
 * (precision and recall each), which it takes for which (the confusion matrix, and its largest
 * cells as fastai's `most_confused`), and the images it is most wrong about (fastai's top losses:
 * often mislabelled or unusual images, worth a look before training again).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { dataFormat } from '../plan/build.ts';
import { ExecutorError } from './errors.ts';
import { loadLabelled, scoreImages, scoreSet } from './evaluate.ts';
import { confusion, perClass, type ClassScore } from './metrics.ts';
import type { ExportedModel } from './predict.ts';

export interface EvaluateOptions {
  /** Where a relative data path starts (default: the working folder). */
  readonly baseDir?: string;
  /** Score each image as the mean of its and its mirror image's scores. */
  readonly tta?: boolean;
  /** How many of the worst mistakes to list (default 5; 0 for none). */
  readonly worst?: number;
  /** An image that cannot be read: warn and skip it (default), or stop. */
  readonly onCorrupt?: 'skip' | 'stop';
  /** Receives warnings (skipped images, ignored files). Default: `console.warn`. */
  readonly warn?: (message: string) => void;
  /** Checked between images as they are read (most of an evaluation's time); an abort rejects with its reason. */
  readonly signal?: AbortSignal;
}

/** An image the model got wrong: its class, what the model took it for, and how sure it was. */
export interface Mistake {
  /** The image's file (or `file.idx#123`, the 123rd image of an IDX file). */
  readonly source: string;
  readonly truth: string;
  readonly predicted: string;
  /** The model's probability for `predicted`. */
  readonly probability: number;
  /** Its probability for the true class (the lower, the larger the image's loss). */
  readonly truthProbability: number;
}

export interface Evaluation {
  /** How many images were scored (unreadable ones skipped are not counted). */
  readonly images: number;
  /** The model's classes, the order of `perClass` and of the confusion matrix's rows and columns. */
  readonly classes: readonly string[];
  /** Mean cross-entropy. */
  readonly loss: number;
  readonly accuracy: number;
  /** Share of images whose class is among the five likeliest; null with five classes or fewer. */
  readonly top5: number | null;
  /** Precision, recall and image count of each class (a class the data lacks has support 0). */
  readonly perClass: readonly ClassScore[];
  /** confusion[true][predicted]: image counts. */
  readonly confusion: readonly (readonly number[])[];
  /** The confusion matrix's off-diagonal cells that are not 0, largest first. */
  readonly confused: readonly { readonly truth: string; readonly predicted: string; readonly count: number }[];
  /** The worst mistakes, the lowest probability for the true class first. */
  readonly mistakes: readonly Mistake[];
}

/**
 * Scores `exported` on the labelled images at `path`: class folders, a `path,label` csv manifest or
 * an IDX file, as a script's `data` reads them. The data may hold fewer classes than the model knows;
 * a class the model does not know fails with ExecutorError `unknown-label`, naming it.
 *
 * @example
 * const model = await loadModel('runs/quickstart');
 * const { accuracy, confused } = await evaluateModel(model, 'data/fashion-mini/test');
 */
export async function evaluateModel(exported: ExportedModel, path: string, options: EvaluateOptions = {}): Promise<Evaluation> {
  const worst = options.worst ?? 5;
  if (!(Number.isInteger(worst) && worst >= 0)) throw new RangeError(`worst must be a whole number of at least 0, got ${worst}`);
  const baseDir = options.baseDir ?? process.cwd();
  const format = dataFormat(path);
  // Said here, since data's own message speaks of a script's folder, which there is none of. An
  // IDX file is read with or without its .gz, as data reads it.
  const at = resolve(baseDir, path);
  if (!existsSync(at) && !(format === 'idx' && existsSync(at.endsWith('.gz') ? at.slice(0, -3) : `${at}.gz`))) {
    throw new ExecutorError('data-not-found', `${at} does not exist${isAbsolute(path) ? '' : ` (${path}, from ${baseDir})`}`);
  }
  const classes = exported.labels;
  const unknown = (missing: string[]) => `${path} has classes the model was not trained on: ${missing.join(', ')}; it knows ${classes.join(', ')}`;
  const { images, labels } = await loadLabelled({ format, path }, classes, unknown, {
    baseDir,
    imageSize: exported.preprocess.inputSize,
    seed: 0,
    onCorrupt: options.onCorrupt ?? 'skip',
    ...(options.warn && { warn: options.warn }),
    ...(options.signal && { signal: options.signal }),
  });
  const k = classes.length;
  const scores = await scoreImages(exported.model, images, exported.preprocess, options.tta ?? false);
  const { loss, accuracy, top5, predicted } = scoreSet(scores, labels, k);
  const c = confusion(classes, labels, predicted);

  const confused = c.matrix
    .flatMap((row, t) => row.map((count, p) => ({ truth: classes[t]!, predicted: classes[p]!, count, off: t !== p })))
    .filter((cell) => cell.off && cell.count > 0)
    .sort((a, b) => b.count - a.count)
    .map(({ truth, predicted, count }) => ({ truth, predicted, count }));

  const wrong = [...labels.keys()].filter((i) => predicted[i] !== labels[i]);
  const truthProbability = (i: number) => scores[i * k + labels[i]!]!;
  const mistakes = wrong
    .sort((a, b) => truthProbability(a) - truthProbability(b))
    .slice(0, worst)
    .map((i) => ({
      source: images.sources[i]!,
      truth: classes[labels[i]!]!,
      predicted: classes[predicted[i]!]!,
      probability: scores[i * k + predicted[i]!]!,
      truthProbability: truthProbability(i),
    }));

  return { images: images.count, classes, loss, accuracy, top5, perClass: perClass(c), confusion: c.matrix, confused, mistakes };
}
