/**
 * A user's tfjs Layers model (`use "path/model.json"`) as a base: the network up to its last 4D
 * output (a Flatten/Dense classifier is dropped), optionally rebuilt at another square input size.
 */
import * as tf from '@tensorflow/tfjs';
import { truncateAt } from './cut.ts';
import { ZooError } from './errors.ts';
import { modelFromPatched, patchTopology } from './keras-topology.ts';
import { groupByLayer, type LayerWeightMap } from './layer-weights.ts';
import { readTfjsModel } from './tfjs-files.ts';

export interface UserNetwork {
  /** Fresh weights; the saved ones are in `savedWeights` (null when the model.json has none). */
  readonly model: tf.LayersModel;
  readonly inputSize: number;
  /** Reads the weights saved with the model; the caller disposes them. */
  readonly savedWeights: (() => LayerWeightMap) | null;
}

function lastFeatureMap(model: tf.LayersModel): string | undefined {
  let last: string | undefined;
  for (const layer of model.layers) {
    const shape = layer.outputShape;
    if (Array.isArray(shape) && shape.length === 4 && !Array.isArray(shape[0])) last = layer.name;
  }
  return last;
}

function inputSizeOf(model: tf.LayersModel, path: string): number | null {
  const shape = model.inputs[0]?.shape ?? [];
  if (shape.length !== 4) throw new ZooError('bad-input', `${path} takes ${shape.length}D input; a base must take images (NHWC).`);
  const [, h, w, c] = shape;
  if (c !== 3) throw new ZooError('bad-input', `${path} takes ${c ?? 'any number of'} channels; TL feeds RGB images (3 channels).`);
  if (h !== w) throw new ZooError('bad-input', `${path} takes ${h}x${w} images; a base must take square images.`);
  return h ?? null;
}

export async function loadUserNetwork(path: string, input: number | null): Promise<UserNetwork> {
  let artifacts: tf.io.ModelArtifacts;
  try {
    artifacts = await readTfjsModel(path);
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ZooError('model-not-found', missing ? `model ${path} does not exist.` : `${(cause as Error).message}.`, { cause });
  }
  const topology = artifacts.modelTopology;
  if (topology === undefined || topology instanceof ArrayBuffer) {
    throw new ZooError('model-not-found', `model ${path} has no Layers topology (a graph model cannot be fine-tuned).`);
  }
  // Built once as saved to find where the convolutional part ends; rebuilt only to change the input size.
  let model = await modelFromPatched(patchTopology(topology, { inputSize: null }));
  const end = lastFeatureMap(model);
  if (end === undefined) {
    model.dispose();
    throw new ZooError('bad-input', `model ${path} has no 4D (image feature map) layer to use as a base.`);
  }
  const ownSize = inputSizeOf(model, path);
  const size = input ?? ownSize;
  if (size === null) {
    model.dispose();
    throw new ZooError('bad-input', `model ${path} accepts any image size; give one with \`input N\`.`);
  }
  if (size !== ownSize) {
    model.dispose();
    model = await modelFromPatched(patchTopology(topology, { inputSize: size, end }));
  } else {
    model = truncateAt(model, end);
  }
  const { weightSpecs, weightData } = artifacts;
  const savedWeights =
    weightSpecs && weightSpecs.length > 0 && weightData !== undefined
      ? () => groupByLayer(tf.io.decodeWeights(weightData, weightSpecs))
      : null;
  return { model, inputSize: size, savedWeights };
}
