import * as tf from '@tensorflow/tfjs';
import type { Target } from '../../plan/schema.ts';
import { blockEnd, unknownLayerError, type BlockMap } from './blocks.ts';

/** The layer a `cut` keeps up to and including: a block's end, or a named layer of the base. */
export function cutLayer(target: Target, map: BlockMap, model: string): string {
  if (target.kind === 'block') return blockEnd(map, target.block, model);
  if (!map.has(target.layer)) throw unknownLayerError(target.layer, [...map.keys()], model);
  return target.layer;
}

/**
 * The sub-network from `model`'s input to `layer`'s output. Layers the sub-network no longer uses are
 * disposed, so `model` itself must not be used afterwards.
 */
export function truncateAt(model: tf.LayersModel, layer: string): tf.LayersModel {
  const last = model.layers[model.layers.length - 1];
  if (last?.name === layer && model.outputs.length === 1) return model;
  const output = model.getLayer(layer).output;
  if (Array.isArray(output)) throw new Error(`layer '${layer}' has several outputs; cut at a layer with one feature map`);
  const cut = tf.model({ inputs: model.inputs, outputs: output, name: model.name });
  const kept = new Set(cut.layers);
  for (const l of model.layers) if (!kept.has(l) && l.weights.length > 0) l.dispose();
  return cut;
}
