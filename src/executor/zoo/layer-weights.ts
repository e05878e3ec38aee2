/**
 * Weights matched to a network by layer name, the way Keras' `load_weights(by_name=True)` does:
 * every source (nsfwjs shards, Keras .h5, tfjs model.json) is first grouped as
 * layer name -> short weight name ('kernel', 'bias', 'gamma', 'moving_mean', ...) -> tensor.
 */
import * as tf from '@tensorflow/tfjs';
import { ZooError } from './errors.ts';

export type LayerWeightMap = Map<string, Map<string, tf.Tensor>>;

/** 'conv1_conv/kernel:0' -> 'kernel'; 'model/block_1_expand/kernel' -> 'kernel'. */
export function shortWeightName(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.replace(/:\d+$/, '');
}

/** The layer a scoped weight name belongs to: the segment before the short name ('a/b/kernel' -> 'b'). */
export function layerOfWeightName(name: string): string | undefined {
  const parts = name.split('/');
  return parts.length >= 2 ? parts[parts.length - 2] : undefined;
}

export function addWeight(map: LayerWeightMap, layer: string, weight: string, value: tf.Tensor): void {
  let entry = map.get(layer);
  if (!entry) map.set(layer, (entry = new Map()));
  entry.get(weight)?.dispose();
  entry.set(weight, value);
}

/** Groups a tfjs weight map ('layer/kernel' names) by layer; takes ownership of the tensors. */
export function groupByLayer(named: tf.NamedTensorMap): LayerWeightMap {
  const map: LayerWeightMap = new Map();
  for (const [name, tensor] of Object.entries(named)) {
    const layer = layerOfWeightName(name);
    if (layer === undefined) {
      tensor.dispose();
      continue;
    }
    addWeight(map, layer, shortWeightName(name), tensor);
  }
  return map;
}

export function disposeWeights(map: LayerWeightMap): void {
  for (const entry of map.values()) for (const t of entry.values()) t.dispose();
  map.clear();
}

export interface AssignOptions {
  /** Where the weights came from, for messages. */
  readonly source: string;
  /** Every weighted layer of the model must be in the source (imagenet loads); otherwise partial loads are fine. */
  readonly requireAll: boolean;
}

export interface AssignReport {
  /** Model layers whose weights were set. */
  readonly loaded: readonly string[];
  /** Weighted model layers the source does not have (they keep their initial values). */
  readonly missing: readonly string[];
  /** Source layers the model does not have (e.g. a classifier, or layers past a cut). */
  readonly unused: readonly string[];
}

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

type Fail = (detail: string) => never;

/**
 * Pairs one layer's variables with the file's values. By short name when the file uses Keras 2 names;
 * otherwise by position, as Keras itself loads files whose names it cannot read (the VGG16 file from
 * Keras 1 names them 'block1_conv1_W_1:0', 'block1_conv1_b_1:0'). Positions follow creation order, which
 * is Keras' order (kernel, bias; gamma, beta, moving_mean, moving_variance) whatever is frozen.
 */
function pairLayer(layer: tf.layers.Layer, entry: ReadonlyMap<string, tf.Tensor>, fail: Fail): [tf.LayerVariable, tf.Tensor][] {
  const variables = [...layer.weights].sort((a, b) => a.id - b.id);
  const shorts = variables.map((v) => shortWeightName(v.originalName));
  const keys = [...entry.keys()];
  const pairs: [tf.LayerVariable, tf.Tensor, string][] = [];
  if (keys.every((k) => shorts.includes(k))) {
    variables.forEach((variable, i) => {
      const value = entry.get(shorts[i]!);
      if (value) pairs.push([variable, value, shorts[i]!]);
      // A Keras BatchNormalization with scale=False has no gamma: ours stays ones.
      else if (!(shorts[i] === 'gamma' && layer.getClassName() === 'BatchNormalization')) {
        fail(`layer '${layer.name}' has no '${shorts[i]}' weight in the file`);
      }
    });
  } else if (keys.length === variables.length) {
    variables.forEach((variable, i) => pairs.push([variable, entry.get(keys[i]!)!, shorts[i]!]));
  } else {
    fail(`layer '${layer.name}' has weights ${keys.join(', ')} in the file, expected ${shorts.join(', ')}`);
  }
  for (const [variable, value, short] of pairs) {
    if (!sameShape(variable.shape, value.shape)) {
      fail(`layer '${layer.name}' weight '${short}' has shape [${value.shape.join(', ')}], expected [${variable.shape.join(', ')}]`);
    }
  }
  return pairs.map(([variable, value]) => [variable, value]);
}

/**
 * Writes `weights` into `model` by layer name, checking every layer before anything is written:
 * a matched layer whose weights do not fit is a 'weights-mismatch'.
 */
export function assignWeights(model: tf.LayersModel, weights: LayerWeightMap, options: AssignOptions): AssignReport {
  const writes: [tf.LayerVariable, tf.Tensor][] = [];
  const loaded: string[] = [];
  const missing: string[] = [];
  const fail: Fail = (detail) => {
    throw new ZooError('weights-mismatch', `${options.source} does not fit the network: ${detail}.`);
  };
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const entry = weights.get(layer.name);
    if (!entry) {
      missing.push(layer.name);
      continue;
    }
    writes.push(...pairLayer(layer, entry, fail));
    loaded.push(layer.name);
  }
  if (loaded.length === 0) fail(`none of its ${weights.size} layers has a name the network uses (first: '${[...weights.keys()][0] ?? '-'}')`);
  if (options.requireAll && missing.length > 0) {
    fail(`it lacks ${missing.length} layer(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
  }
  for (const [variable, value] of writes) {
    if (value.dtype === variable.dtype) {
      variable.write(value);
    } else {
      const cast = tf.cast(value, variable.dtype);
      variable.write(cast);
      cast.dispose();
    }
  }
  const names = new Set(model.layers.map((l) => l.name));
  const unused = [...weights.keys()].filter((name) => !names.has(name));
  return { loaded, missing, unused };
}
