/**
 * Loading a domain-adaptation target folder: images whose labels the training does not use.
 */
import { resolve } from 'node:path';
import { DataError } from './data-error.ts';
import { decodeFile, decodeItems, withDefaultWarn, type Item } from './decode-items.ts';
import { describeIgnored, listClassTree, walkImages } from './list-images.ts';
import type { DecodeOptions, ImageSet } from './types.ts';

export type UnlabeledOptions = DecodeOptions & {
  /** Relative paths are resolved against this folder. */
  baseDir: string;
  /** Keep only the first N images (in file order; per class for a class tree). */
  limit?: number;
};

/** Images with, when the folder was a class tree, their folder labels (for reporting target accuracy). */
export type UnlabeledSet = Omit<ImageSet, 'labels'> & {
  /** Folder names of a class tree in code-point order; null for a flat folder. */
  classes: string[] | null;
  labels: Int32Array | null;
};

/**
 * Loads a flat folder of images, or a class-per-folder tree whose labels are returned but need not
 * be used. A folder with images at its top level is flat (sub-folders are included, unlabelled);
 * one with only sub-folders is a class tree. Decoding is the same as `loadDataset`'s.
 *
 * @example
 * const target = await loadUnlabeled(plan.adapt.target, { baseDir, imageSize: 96 });
 */
export async function loadUnlabeled(dir: string, unlabeledOptions: UnlabeledOptions): Promise<UnlabeledSet> {
  const options = withDefaultWarn(unlabeledOptions);
  const root = resolve(options.baseDir, dir);
  const tree = await listClassTree(root, 'target folder');
  const flat = tree.loose.length > 0 || tree.classes.length === 0;
  let items: Item[];
  let ignored = tree.ignored;
  if (flat) {
    ignored = [];
    items = (await walkImages(root, ignored)).map((source) => ({ source, label: -1 }));
    if (options.limit !== undefined) items = items.slice(0, options.limit);
  } else {
    items = tree.files.flatMap((files, label) => files.slice(0, options.limit).map((source) => ({ source, label })));
  }
  const note = describeIgnored(ignored, root);
  if (note) options.warn(note);
  if (items.length === 0) {
    throw new DataError('no-classes', `target folder '${root}' holds no images (.jpg, .png, .webp, .gif, .tif, .avif); add the unlabelled target images`, {
      path: root,
    });
  }
  const set = await decodeItems(items, decodeFile, options, root);
  if (set.count === 0) throw new DataError('corrupt-image', `none of the ${items.length} images in target folder '${root}' could be read`, { path: root });
  return flat ? { ...set, classes: null, labels: null } : { ...set, classes: tree.classes };
}
