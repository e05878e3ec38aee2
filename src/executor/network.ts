/**
 * The trained network: the base, then global average pooling, the plan's head layers and a softmax
 * over the classes. The head is its own model so a phase that trains only the head can run it on
 * cached base features; `full` shares the same layers and weights.
 */
import * as tf from '@tensorflow/tfjs';
import type { Plan } from '../plan/schema.ts';
import { hashSeed } from './augment/rng.ts';
import type { Base } from './zoo/index.ts';

export interface Network {
  readonly full: tf.LayersModel;
  readonly head: tf.LayersModel;
  readonly base: Base;
  /** Each Dropout layer's draws: a checkpoint keeps their calls, so a resumed run draws the masks an uninterrupted one would. */
  readonly dropout: readonly DropoutDraws[];
}

/**
 * Where a Dropout layer's masks stand: its own seed, and its training calls so far. Set on each
 * Dropout layer as `draws`, where the webgpu backend's mask reads it (backends/webgpu/dropout.ts).
 */
export interface DropoutDraws {
  readonly seed: number;
  calls: number;
  /**
   * Set by a backend that counts the calls itself (webgpu, on the GPU, where a replayed step runs
   * no JavaScript): brings `calls` up to date, as a checkpoint needs.
   */
  sync?: () => Promise<void>;
  /** Set by such a backend: puts its count back to `calls` (after `lr auto`'s search, rate-search.ts). */
  restore?: (calls: number) => void;
}

export function assemble(base: Base, plan: Plan, classes: number): Network {
  const featureShape = base.model.outputs[0]!.shape.slice(1) as number[];
  const input = tf.input({ shape: featureShape, name: 'head_input' });
  let x = tf.layers.globalAveragePooling2d({ name: 'head_pool' }).apply(input) as tf.SymbolicTensor;
  plan.head.layers.forEach((layer, i) => {
    x = (layer.kind === 'dense'
      ? tf.layers.dense({ units: layer.units, activation: layer.activation === 'linear' ? 'linear' : layer.activation, name: `head_dense_${i + 1}`, kernelInitializer: tf.initializers.glorotUniform({ seed: plan.seed + i }) })
      : tf.layers.dropout({ rate: layer.rate, name: `head_dropout_${i + 1}`, seed: plan.seed + i })
    ).apply(x) as tf.SymbolicTensor;
  });
  // Seeded from the plan so the same script starts from the same head on every run.
  const out = tf.layers.dense({ units: classes, activation: 'softmax', name: 'head_out', kernelInitializer: tf.initializers.glorotUniform({ seed: plan.seed }) }).apply(x) as tf.SymbolicTensor;
  const head = tf.model({ inputs: input, outputs: out, name: 'head' });
  const full = tf.model({ inputs: base.model.inputs, outputs: head.apply(base.model.outputs[0]!) as tf.SymbolicTensor, name: 'tl_model' });
  patchBatchNorm(base.model);
  const dropout = drawDropoutPerCall([...base.model.layers, ...head.layers], plan.seed);
  return { full, head, base, dropout };
}

/**
 * tfjs's Dropout seeds its mask with the layer's seed at every call, so a seeded layer drops the
 * same units at every step (and an unseeded one, as a user's model may have, draws from the clock).
 * Each training call here gets a seed of its own from the layer's draws (the plan's seed and the
 * layer's place) and its count of calls: a new mask every step, the same masks on every run. (On
 * webgpu the mask is drawn on the GPU from the same seed and a counter that starts at the calls.)
 */
function drawDropoutPerCall(layers: readonly tf.layers.Layer[], seed: number): DropoutDraws[] {
  return layers
    .filter((layer) => layer.getClassName() === 'Dropout')
    .map((layer, place) => {
      const draws: DropoutDraws = { seed: hashSeed(seed + place) >>> 0, calls: 0 };
      Object.assign(layer, { draws });
      const layerClass = Object.getPrototypeOf(layer) as { call: typeof layer.call };
      const seeded = layer as unknown as { seed?: number };
      layer.call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => {
        if (kwargs?.['training'] !== true) return layerClass.call.call(layer, inputs, kwargs);
        seeded.seed = hashSeed(draws.seed + draws.calls) >>> 0;
        try {
          return layerClass.call.call(layer, inputs, kwargs);
        } finally {
          draws.calls++;
        }
      };
      return draws;
    });
}

/**
 * Frozen BatchNorm runs in inference mode, as in Keras: tfjs would otherwise normalise a frozen
 * layer with batch statistics and keep updating its moving averages, so a frozen base drifts.
 */
function patchBatchNorm(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    // The class's call is looked up on each call: backends with the training-mode op swap it (backends/batchnorm-training.ts).
    const layerClass = Object.getPrototypeOf(layer) as { call: typeof layer.call };
    layer.call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) =>
      layerClass.call.call(layer, inputs, { ...kwargs, training: Boolean(kwargs?.['training']) && layer.trainable });
  }
}
