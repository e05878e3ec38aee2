/**
 * `buildBase`: the executor's single way to get a base network from the plan's `model` node, whatever
 * its source (zoo builder, nsfwjs bundle, user model.json) and weights (none, ImageNet, a file).
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Model, Weights } from '../../plan/schema.ts';
import { findZooModel, ZOO, type BlockName, type ZooEntry } from '../../zoo/catalog.ts';
import { blockLookup, blocksFromEnds, blocksFromStrides, unknownLayerError, type BlockMap } from './blocks.ts';
import { bundledWeights, isBundled } from './bundled-models.ts';
import { cutLayer, truncateAt } from './cut.ts';
import { ZooError } from './errors.ts';
import { readKerasH5 } from './keras-h5.ts';
import { defaultCacheDir, isDownloadable, knownWeightsPath, weightsMissingError } from './known-weights.ts';
import { assignWeights, disposeWeights, type LayerWeightMap } from './layer-weights.ts';
import { baseLayerNames, buildNetwork, preprocessOf } from './networks.ts';
import { PREPROCESS_UNIT, type Preprocess } from './preprocess.ts';
import { loadUserNetwork } from './user-model.ts';
import { readWeightsFile } from './weights-file.ts';

export interface BuildBaseOptions {
  /** Relative model and weights paths in the plan are resolved against this folder (the script's). */
  readonly baseDir: string;
  /** The weights cache; default `$TL_CACHE`, else ~/.cache/tl/weights. */
  readonly cacheDir?: string;
  readonly log?: (message: string) => void;
  /** Told when a weights file leaves some of the base's layers at their initial values (a partial match by name). */
  readonly warn?: (message: string) => void;
}

export interface Base {
  /** The zoo name, or the user model's resolved path. */
  readonly name: string;
  /** Input [null, S, S, 3] -> the base's last feature map, cut applied. */
  readonly model: tf.LayersModel;
  readonly inputSize: number;
  /** Base layer names in model order (input excluded), up to the cut. */
  readonly layers: readonly string[];
  /** The coarse block of a base layer; throws ZooError 'unknown-layer' for other names. */
  readonly blockOf: (layer: string) => BlockName;
  /** How 0..255 RGB pixels become the model's input (see applyPreprocess). */
  readonly preprocess: Preprocess;
  readonly hasBatchNorm: boolean;
}

type Log = (message: string) => void;

/** Where loading weights reports: what it loaded (`log`), and layers a file left at their initial values (`warn`). */
interface Reports {
  readonly log: Log;
  readonly warn: Log;
}

interface WeightsSource {
  readonly source: string;
  /** imagenet loads must cover the whole base; a user's file may hold only some layers. */
  readonly requireAll: boolean;
  readonly read: () => Promise<LayerWeightMap> | LayerWeightMap;
}

async function loadWeights(model: tf.LayersModel, from: WeightsSource, { log, warn }: Reports): Promise<void> {
  const weights = await from.read();
  try {
    const report = assignWeights(model, weights, from);
    const { loaded, missing } = report;
    if (missing.length > 0) {
      const named = `${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}`;
      warn(`${from.source} has weights for ${loaded.length} of the base's ${loaded.length + missing.length} layers that have weights; the other ${missing.length} (${named}) start from their initial values, as no layer in the file has their name`);
    }
    log(
      `weights: ${report.loaded.length} layers from ${from.source}` +
        (report.missing.length > 0 ? `; ${report.missing.length} keep their initial values (${report.missing.slice(0, 3).join(', ')}...)` : '') +
        (report.unused.length > 0 ? `; ${report.unused.length} file layers unused` : ''),
    );
  } finally {
    disposeWeights(weights);
  }
}

function fileWeights(weights: Extract<Weights, { kind: 'file' }>, baseDir: string): WeightsSource {
  const path = resolve(baseDir, weights.path);
  return { source: path, requireAll: false, read: () => readWeightsFile(path) };
}

/** Where `weights imagenet` comes from; checked before the network is built, so a missing file fails fast. */
function zooImagenet(entry: ZooEntry, cacheDir: string): WeightsSource {
  const name = entry.name;
  if (isBundled(name)) return { source: `the nsfwjs ${name} bundle`, requireAll: true, read: () => bundledWeights(name) };
  if (isDownloadable(name)) {
    const path = knownWeightsPath(name, cacheDir);
    if (!existsSync(path)) throw weightsMissingError(name, path);
    return { source: path, requireAll: true, read: () => readKerasH5(path) };
  }
  throw new ZooError('weights-missing', `${name} has no pretrained weights; use \`weights none\` or \`weights "file.h5"\`.`);
}

function finish(name: string, model: tf.LayersModel, inputSize: number, blocks: BlockMap, preprocess: Preprocess): Base {
  const layers = baseLayerNames(model);
  const kept = new Map<string, BlockName>();
  for (const layer of layers) {
    const block = blocks.get(layer);
    if (block === undefined) throw unknownLayerError(layer, [...blocks.keys()], name);
    kept.set(layer, block);
  }
  const hasBatchNorm = model.layers.some((l) => l.getClassName() === 'BatchNormalization');
  return { name, model, inputSize, layers, blockOf: blockLookup(kept, name), preprocess, hasBatchNorm };
}

async function zooBase(spec: Extract<Model, { kind: 'zoo' }>, options: BuildBaseOptions, reports: Reports): Promise<Base> {
  const entry = findZooModel(spec.name);
  if (!entry) {
    throw new ZooError('unknown-model', `unknown zoo model '${spec.name}'; the zoo has ${ZOO.map((m) => m.name).join(', ')}.`);
  }
  if (spec.input < entry.minInput) {
    throw new ZooError('bad-input', `${entry.name} needs an input of at least ${entry.minInput} px, got ${spec.input}.`);
  }
  const weights =
    spec.weights.kind === 'imagenet'
      ? zooImagenet(entry, options.cacheDir ?? defaultCacheDir())
      : spec.weights.kind === 'file'
        ? fileWeights(spec.weights, options.baseDir)
        : null;
  let model = await buildNetwork(entry.name, spec.input);
  try {
    if (weights) await loadWeights(model, weights, reports);
    const blocks = blocksFromEnds(baseLayerNames(model), entry.blockEnds, entry.name);
    if (spec.cut) model = truncateAt(model, cutLayer(spec.cut, blocks, entry.name));
    return finish(entry.name, model, spec.input, blocks, preprocessOf(entry.name));
  } catch (err) {
    model.dispose();
    throw err;
  }
}

async function userBase(spec: Extract<Model, { kind: 'file' }>, options: BuildBaseOptions, reports: Reports): Promise<Base> {
  const path = resolve(options.baseDir, spec.path);
  const network = await loadUserNetwork(path, spec.input);
  let model = network.model;
  try {
    if (spec.weights.kind === 'own' || spec.weights.kind === 'imagenet') {
      // For a user model, "pretrained" means the weights saved with it (the plan's default, `own`).
      const saved = network.savedWeights;
      if (!saved) throw new ZooError('weights-missing', `model ${path} has no saved weights; use \`weights none\` or \`weights "file"\`.`);
      await loadWeights(model, { source: path, requireAll: true, read: saved }, reports);
    } else if (spec.weights.kind === 'file') {
      await loadWeights(model, fileWeights(spec.weights, options.baseDir), reports);
    }
    const all = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const blocks = blocksFromStrides(all, network.inputSize);
    if (spec.cut) model = truncateAt(model, cutLayer(spec.cut, blocks, path));
    return finish(path, model, network.inputSize, blocks, PREPROCESS_UNIT);
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/**
 * Builds the base network a plan's `model` node describes.
 *
 * @example
 * const base = await buildBase(plan.model, { baseDir: dirname(scriptPath), log: console.log });
 * const features = base.model.predict(applyPreprocess(images, base.preprocess)) as tf.Tensor4D;
 */
export async function buildBase(spec: Model, options: BuildBaseOptions): Promise<Base> {
  const reports: Reports = { log: options.log ?? (() => {}), warn: options.warn ?? (() => {}) };
  return spec.kind === 'zoo' ? zooBase(spec, options, reports) : userBase(spec, options, reports);
}
