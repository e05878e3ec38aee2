/**
 * What a data folder holds, for `tl init`: a class tree, or `train`/`val`/`test` class trees beside
 * each other (as most downloaded datasets come); how many images each class has; and how large the
 * images are, from a sample read without decoding them.
 */
import { basename, join, relative, sep } from 'node:path';
import sharp from 'sharp';
import type { DataSummary } from '../../format/starter.ts';
import { DataError } from './data-error.ts';
import { listClassTree, listDirectory, requireDirectory } from './list-images.ts';

/** A folder's summary (format/starter.ts), its paths absolute. */
export type DataSurvey = DataSummary;

const SPLITS = { train: ['train', 'training'], val: ['val', 'valid', 'validation'], test: ['test', 'testing'] } as const;
const SAMPLE = 48;

export async function surveyData(dir: string): Promise<DataSurvey> {
  await requireDirectory(dir, 'data folder');
  const { folders } = await listDirectory(dir);
  const split = (names: readonly string[]) => folders.find((f) => names.includes(basename(f).toLowerCase())) ?? null;
  const train = split(SPLITS.train);
  const root = train ?? dir;
  const tree = await listClassTree(root, 'data folder');
  if (tree.classes.length === 0) {
    throw new DataError('no-classes', `data folder '${root}' has no class sub-folders; put each class's images in '${root}/<class name>/'${train ? '' : `, or the classes of each split in '${join(dir, 'train')}', '${join(dir, 'val')}' and '${join(dir, 'test')}'`}`, { path: root });
  }
  const classes = tree.classes.map((name, k) => ({ name, images: tree.files[k]!.length }));
  if (classes.length === 1) throw new DataError('one-class', `data folder '${root}' has a single class ('${classes[0]!.name}'); a classifier needs at least two: add a folder of images of another class`, { path: root });
  const empty = classes.filter((c) => c.images === 0).map((c) => `'${c.name}'`);
  if (empty.length) {
    throw new DataError('empty-class', `class folder${empty.length > 1 ? 's' : ''} ${empty.join(', ')} in '${root}' hold${empty.length > 1 ? '' : 's'} no images; add some or remove ${empty.length > 1 ? 'them' : 'it'}`, { path: root });
  }
  // A sample spread over every class: every n-th image of the whole tree.
  const all = tree.files.flat();
  const step = Math.max(1, Math.floor(all.length / SAMPLE));
  const sides: number[] = [];
  for (let i = 0; i < all.length && sides.length < SAMPLE; i += step) {
    const meta = await sharp(all[i]!).metadata().catch(() => null);
    if (meta?.width && meta.height) sides.push(Math.min(meta.width, meta.height));
  }
  sides.sort((a, b) => a - b);
  return {
    train: root,
    val: train ? split(SPLITS.val) : null,
    test: train ? split(SPLITS.test) : null,
    classes,
    shortSide: sides.length ? sides[Math.floor(sides.length / 2)]! : null,
    sampled: sides.length,
  };
}

/** The survey with its paths as a script in `scriptDir` writes them: relative to it, with forward slashes. */
export function writtenFrom(survey: DataSurvey, scriptDir: string): DataSummary {
  const written = (p: string) => relative(scriptDir, p).split(sep).join('/') || '.';
  return { ...survey, train: written(survey.train), val: survey.val && written(survey.val), test: survey.test && written(survey.test) };
}
