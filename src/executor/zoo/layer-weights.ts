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

/**
 * Writes `weights` into `model` by layer name. A BatchNormalization gamma the source lacks stays as
 * initialised (ones), which is what Keras' `scale=False` means; any other gap or shape difference inside
 * a matched layer is a 'weights-mismatch', checked for all layers before anything is written.
 */
export function assignWeights(model: tf.LayersModel, weights: LayerWeightMap, options: AssignOptions): AssignReport {
  const writes: [tf.LayerVariable, tf.Tensor][] = [];
  const loaded: string[] = [];
  const missing: string[] = [];
  const fail = (detail: string): never => {
    throw new ZooError('weights-mismatch', `${options.source} does not fit the network: ${detail}.`);
  };
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const entry = weights.get(layer.name);
    if (!entry) {
      missing.push(layer.name);
      continue;
    }
    const expected = new Set<string>();
    for (const variable of layer.weights) {
      const short = shortWeightName(variable.originalName);
      expected.add(short);
      const value = entry.get(short);
      if (!value) {
        if (short === 'gamma' && layer.getClassName() === 'BatchNormalization') continue;
        fail(`layer '${layer.name}' has no '${short}' weight in the file`);
      } else if (!sameShape(variable.shape, value.shape)) {
        fail(`layer '${layer.name}' weight '${short}' has shape [${value.shape.join(', ')}], expected [${variable.shape.join(', ')}]`);
      } else {
        writes.push([variable, value]);
      }
    }
    const extra = [...entry.keys()].filter((k) => !expected.has(k));
    if (extra.length > 0) fail(`layer '${layer.name}' has unexpected weights ${extra.map((k) => `'${k}'`).join(', ')}`);
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
