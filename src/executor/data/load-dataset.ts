/**
 * Loading a plan's `data` into decoded, resized, labelled training and validation images.
 */
import { resolve } from 'node:path';
import type { Data } from '../../plan/schema.ts';
import { DataError } from './data-error.ts';
import { decodeItems, withDefaultWarn, type Item } from './decode-items.ts';
import { csvSource } from './csv-source.ts';
import { folderSource } from './folder-source.ts';
import { idxSource } from './idx-source.ts';
import { classCounts, emptySet, subset } from './image-set.ts';
import { limitPerClass, type Source } from './source.ts';
import { stratifiedSplit } from './split.ts';
import type { Dataset, ImageSet, LoadOptions } from './types.ts';

/**
 * Loads the images a plan's `data` names, decoded (sharp) and resized to `imageSize` square RGB.
 *
 * - `folder`: one sub-folder per class; `csv`: a `path,label` manifest; `idx`: an MNIST-style
 *   images file with its labels file beside it.
 * - With `spec.val`, that data (same format) is the validation set and must cover every training
 *   class; without it, a seeded stratified split holds out `spec.split` of each class.
 * - Unreadable images are skipped with a warning (`onCorrupt: 'skip'`, the default) or stop the load.
 *
 * Rejects with a `DataError` whose `code` says what was wrong and whose message says what to do.
 *
 * @example
 * const data = await loadDataset(plan.data, { baseDir: dirname(tlFile), imageSize: 96, seed: plan.seed, warn: console.warn });
 * data.train.images; // Uint8Array, count × 96 × 96 × 3
 */
/** What reading a data set needs of a plan's `data` (`balance` weights the loss, not the reading). */
export type DataSource = Omit<Data, 'balance' | 'origin'>;

export async function loadDataset(spec: DataSource, loadOptions: LoadOptions): Promise<Dataset> {
  const options = withDefaultWarn(loadOptions);
  if (!Number.isInteger(options.imageSize) || options.imageSize <= 0) throw new RangeError(`imageSize must be a positive integer, got ${options.imageSize}`);
  if (options.limitPerClass !== undefined && !(options.limitPerClass >= 1)) throw new RangeError(`limitPerClass must be at least 1, got ${options.limitPerClass}`);
  const trainPath = resolve(options.baseDir, spec.path);
  const train = await load(spec.format, trainPath, null, options);
  const { classes, set: trainSet } = train;
  classCounts(trainSet, classes.length).forEach((n, label) => {
    if (n === 0) {
      throw new DataError('empty-class', `class '${classes[label]}' has no readable images in '${train.classPath(label)}'; add images or remove the class`, {
        path: train.classPath(label),
      });
    }
  });

  if (spec.val !== null) {
    const valPath = resolve(options.baseDir, spec.val);
    const { set: valSet } = await load(spec.format, valPath, classes, options);
    classCounts(valSet, classes.length).forEach((n, label) => {
      if (n === 0) {
        throw new DataError(
          'class-missing-from-val',
          `class '${classes[label]}' has no readable images in the validation data '${valPath}'; add some, or drop 'val' to split the training data instead`,
          { path: valPath },
        );
      }
    });
    return { classes, train: trainSet, val: valSet };
  }

  if (spec.split === 0) return { classes, train: trainSet, val: emptySet(options.imageSize) };
  const split = stratifiedSplit(trainSet.labels, classes.length, spec.split, options.seed);
  for (const label of split.singletons) {
    options.warn(`class '${classes[label]}' has a single image, which stays in training: the class is not validated; add more images`);
  }
  if (split.val.length === 0) {
    options.warn(`a validation split of ${spec.split} holds out no image at this data size; validation metrics will be missing`);
  }
  return { classes, train: subset(trainSet, split.train), val: subset(trainSet, split.val) };
}

type Loaded = { classes: string[]; set: ImageSet; classPath: (label: number) => string };

/** Reads and decodes one format's data; `classes` null for training data. */
async function load(format: Data['format'], path: string, classes: string[] | null, options: LoadOptions): Promise<Loaded> {
  switch (format) {
    case 'folder':
      return decodeSource(await folderSource(path, classes, options.warn), path, options);
    case 'csv':
      return decodeSource(await csvSource(path, classes), path, options);
    case 'idx':
      return decodeSource(await idxSource(path, classes), path, options);
  }
}

async function decodeSource<T extends Item>(source: Source<T>, path: string, options: LoadOptions): Promise<Loaded> {
  const set = await decodeItems(limitPerClass(source.items, options.limitPerClass), source.decode, options, path);
  return { classes: source.classes, set, classPath: source.classPath };
}
