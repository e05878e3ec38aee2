/**
 * A first script for a folder of images, from what the folder holds (`tl init`, and the dashboard's
 * "Start from a data folder"): the usual transfer-learning choices for that much data, each said in a
 * comment beside it. Pure: the folder is surveyed elsewhere (executor/data/survey.ts).
 */
import { PHASE_DEFAULTS } from '../checks/vocabulary.ts';
import { findZooModel, ZOO, type ZooEntry } from '../zoo/catalog.ts';
import { quoted } from './format.ts';

/** What a data folder holds: where its splits are (as the script will write them), how many images each class has, how large they are. */
export interface DataSummary {
  /** The training class tree: the folder itself, or its `train` (or `training`) sub-folder. */
  readonly train: string;
  /** A `val`, `valid` or `validation` class tree beside it; null where there is none. */
  readonly val: string | null;
  /** A `test` or `testing` class tree beside it; null where there is none. */
  readonly test: string | null;
  readonly classes: readonly { readonly name: string; readonly images: number }[];
  /** The median of the sampled images' shorter sides, in pixels; null where none could be read. */
  readonly shortSide: number | null;
  readonly sampled: number;
}

/**
 * An input size by the images' shorter side: no larger than the detail there is (upscaling adds
 * none), and small ones train fast on a CPU; up to the model's own size (InceptionV3's 299).
 */
function inputFor(side: number | null, model: ZooEntry): number {
  if (side === null || side > 200) return side !== null && side >= model.input ? model.input : Math.min(224, model.input);
  if (side > 144) return 160;
  if (side > 64) return 128;
  return Math.max(96, model.minInput);
}

/** The models `tl init --model` offers: the zoo's pretrained ones. */
export const STARTER_MODELS = ZOO.filter((m) => m.imagenet !== 'unavailable').map((m) => m.name);

/** Fine-tuning phases bench/init-rules.ts measures against each other; the starter writes the first under 1,000 training images a class, the last from there. */
export const FINETUNE = {
  lastBlock: 'phase finetune unfreeze block5 lr 3e-4 epochs 5',
  lastTwo: 'phase finetune unfreeze block4, block5 decay 0.3 lr 3e-4 epochs 5',
  all: 'phase finetune unfreeze all decay 0.5 lr 3e-4 epochs 5',
} as const;

/**
 * The script for `survey` (its paths written as they are there), on `model` (default mobilenetv2;
 * one of STARTER_MODELS), with its export under `runs/NAME` (NAME's other characters than letters,
 * digits, `.`, `_` and `-` made `-`).
 */
export function starterScript(survey: DataSummary, o: { readonly name: string; readonly model?: string }): string {
  const model = findZooModel(o.model ?? 'mobilenetv2');
  if (!model || !STARTER_MODELS.includes(model.name)) throw new RangeError(`no pretrained model '${o.model}'; tl init writes scripts for ${STARTER_MODELS.join(', ')}`);
  const name = o.name.replace(/[^A-Za-z0-9._-]/g, '-') || 'model';
  const counts = survey.classes.map((c) => c.images);
  const total = counts.reduce((a, n) => a + n, 0);
  const [least, most] = [Math.min(...counts), Math.max(...counts)];
  // Training images: all of them with a val folder, else the 80% the split leaves.
  const kept = survey.val ? 1 : 0.8;
  const perClass = Math.round(least * kept);
  // The head learns from scratch: about 300 steps of batch 32, which on cached features take seconds.
  const headEpochs = Math.min(50, Math.max(10, Math.ceil(300 / Math.ceil((total * kept) / 32))));
  const input = inputFor(survey.shortSide, model);
  const balance = least > 0 && most >= 5 * least;
  const size = survey.shortSide === null ? 'sizes unknown' : `shorter side about ${survey.shortSide} px (median of ${survey.sampled})`;
  // Measured (bench/init-rules.ts, Fashion-MNIST at 80 and 400 training images a class): the last
  // block alone did best or as well, in half the time or less, of blocks 4-5 and the whole base.
  const finetune =
    perClass < 1000
      ? { line: FINETUNE.lastBlock, why: `${perClass} images a class to train on: the last block adapts, at under a third of the head's rate` }
      : { line: FINETUNE.all, why: `${perClass}+ images a class: the whole base adapts, each block at half the rate of the one above` };
  const lines = [
    `# Written by tl init from ${survey.train}: ${survey.classes.length} classes, ${total.toLocaleString('en-US')} images (${least === most ? least.toLocaleString('en-US') : `${least.toLocaleString('en-US')} to ${most.toLocaleString('en-US')}`} a class), ${size}.`,
    `use ${model.name} input ${input}   # ${model.imagenet === 'bundled' ? 'its pretrained weights come with TL' : `its ImageNet weights: tl weights fetch ${model.name} (once)`}; ${survey.shortSide !== null && survey.shortSide < input ? `the images are smaller than ${input} px: a larger input adds time, not detail` : `input ${input}: about the detail the images have, and quick to train`}`,
    `data ${quoted(survey.train)}${survey.val ? ` val ${quoted(survey.val)}` : ' split 0.2'}${balance ? ' balance' : ''}${balance ? `   # balance: the classes differ ${Math.round(most / least)} to 1` : survey.val ? '' : '   # a fifth of each class held out to validate'}`,
    'head dropout 0.2',
    `epochs ${headEpochs}   # the new head alone first, about 300 steps on the frozen base's features (computed once: fast)`,
    'lr 1e-3',
    'batch 32',
    `# augment flip, rotate 10, zoom 0.1   # more variety for little data; drop flip where left and right differ (text, digits); the frozen base then runs at every step`,
    `${finetune.line}   # ${finetune.why}; 'lr auto' searches the rate instead (${PHASE_DEFAULTS.searchSteps} steps)`,
    ...(survey.test ? [`evaluate ${quoted(survey.test)}`] : []),
    `export "runs/${name}"`,
  ];
  return `${lines.join('\n')}\n`;
}
