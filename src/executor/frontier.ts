/**
 * Frozen-prefix caching. When every layer up to some block end is frozen in a phase and its inputs
 * are not augmented, the prefix gives the same activations every epoch: run it once, then train the
 * rest of the network (rebuilt on a new input at that point, sharing the same layers) on the cache.
 */
import * as tf from '@tensorflow/tfjs';
import type { Network } from './network.ts';

export interface Frontier {
  /** The last frozen block-end layer; everything up to it runs once per phase. */
  readonly layer: string;
  readonly prefix: tf.LayersModel;
  /** Cached activations -> class probabilities (suffix of the base, then the head). */
  readonly trainer: tf.LayersModel;
}

/** The deepest block end at or before which nothing trains, or null when the first layer already trains. */
export function frozenFrontier(net: Network): string | null {
  const { base } = net;
  const ends = new Set<string>();
  base.layers.forEach((name, i) => {
    const next = base.layers[i + 1];
    if (next === undefined || base.blockOf(next) !== base.blockOf(name)) ends.add(name);
  });
  let frontier: string | null = null;
  for (const name of base.layers) {
    const layer = base.model.getLayer(name);
    if (layer.trainable && layer.trainableWeights.length > 0) break;
    if (ends.has(name)) frontier = name;
  }
  return frontier;
}

export function splitAt(net: Network, layerName: string): Frontier {
  const { base } = net;
  const cut = base.model.getLayer(layerName);
  const prefix = tf.model({ inputs: base.model.inputs, outputs: cut.output as tf.SymbolicTensor, name: `prefix_${layerName}` });
  const last = base.layers[base.layers.length - 1]!;
  const input = tf.input({ shape: (cut.output as tf.SymbolicTensor).shape.slice(1) as number[], name: `cached_${layerName}` });
  let features: tf.SymbolicTensor = input;
  if (layerName !== last) {
    // Re-apply the layers after the cut, in model order, to tensors rooted at the new input.
    const mapped = new Map<number, tf.SymbolicTensor>([[(cut.output as tf.SymbolicTensor).id, input]]);
    for (const name of base.layers.slice(base.layers.indexOf(layerName) + 1)) {
      const layer = base.model.getLayer(name);
      const node = layer.inboundNodes[0]!;
      const inputs = node.inputTensors.map((t) => {
        const m = mapped.get(t.id);
        if (!m) throw new Error(`cannot split the base at '${layerName}': '${name}' also reads an earlier layer`);
        return m;
      });
      const out = layer.apply(inputs.length === 1 ? inputs[0]! : inputs) as tf.SymbolicTensor | tf.SymbolicTensor[];
      const outs = Array.isArray(out) ? out : [out];
      node.outputTensors.forEach((t, i) => mapped.set(t.id, outs[i]!));
    }
    features = mapped.get((base.model.outputs[0] as tf.SymbolicTensor).id)!;
  }
  const trainer = tf.model({ inputs: input, outputs: net.head.apply(features) as tf.SymbolicTensor, name: `from_${layerName}` });
  return { layer: layerName, prefix, trainer };
}
