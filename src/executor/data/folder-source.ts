/**
 * The `folder` format: one sub-folder per class, named by the class; images may sit in nested
 * folders below it. Class names are the folder names in code-point order.
 */
import { join } from 'node:path';
import { DataError } from './data-error.ts';
import { decodeFile, type Item } from './decode-items.ts';
import { describeIgnored, listClassTree } from './list-images.ts';
import type { Source } from './source.ts';

/**
 * Reads a class tree. For training data (`classes` null) every class folder must hold an image;
 * for validation data (`classes` the training classes) every folder must name a training class,
 * and a class without images is left for the caller to report.
 */
export async function folderSource(root: string, classes: string[] | null, warn?: (m: string) => void): Promise<Source> {
  const what = classes ? 'validation folder' : 'data folder';
  const tree = await listClassTree(root, what);
  const ignored = describeIgnored(tree.ignored, root);
  if (ignored) warn?.(ignored);
  if (tree.classes.length === 0) {
    const loose = tree.loose.length > 0 ? ` (it holds ${tree.loose.length} images directly)` : '';
    throw new DataError('no-classes', `${what} '${root}' has no class sub-folders${loose}; put each class's images in '${root}/<class name>/'`, {
      path: root,
    });
  }
  if (tree.loose.length > 0) warn?.(`ignored ${tree.loose.length} image(s) directly in '${root}': images must be inside a class folder, e.g. '${tree.loose[0]}'`);

  const names = classes ?? tree.classes;
  const folderOf = new Map<number, string>();
  const items: Item[] = [];
  tree.classes.forEach((name, k) => {
    const folder = join(root, name);
    const label = names.indexOf(name);
    if (label < 0) {
      throw new DataError('unknown-label', `validation class folder '${folder}' is not a training class (${names.join(', ')}); rename or remove it`, {
        path: folder,
      });
    }
    const files = tree.files[k]!;
    if (files.length === 0 && !classes) {
      throw new DataError('empty-class', `class folder '${folder}' has no images (.jpg, .png, .webp, .gif, .tif, .avif); add some or remove the folder`, {
        path: folder,
      });
    }
    folderOf.set(label, folder);
    for (const file of files) items.push({ source: file, label });
  });
  return { classes: names, items, decode: decodeFile, classPath: (label) => folderOf.get(label) ?? root };
}
