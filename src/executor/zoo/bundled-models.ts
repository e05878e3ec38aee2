/**
 * MobileNetV2 and InceptionV3 rebuilt from the Keras topologies that nsfwjs ships, at any square input
 * size and without the classifier (kept up to the catalog's block5 end). Their weights are ImageNet
 * networks fine-tuned by nsfwjs for a 5-class content classifier: real pretrained features, with that
 * provenance.
 */
import * as tf from '@tensorflow/tfjs';
import { findZooModel } from '../../zoo/catalog.ts';
import { modelFromPatched, patchTopology } from './keras-topology.ts';
import { groupByLayer, type LayerWeightMap } from './layer-weights.ts';
import { loadBundledTopology, loadBundledWeights, type BundledName } from './nsfwjs-bundle.ts';

export function isBundled(name: string): name is BundledName {
  return name === 'mobilenetv2' || name === 'inceptionv3';
}

function baseEnd(name: BundledName): string {
  const entry = findZooModel(name);
  if (!entry) throw new Error(`zoo catalog has no '${name}'`);
  return entry.blockEnds[4];
}

/** The base network with fresh weights; InceptionV3's scale-less BatchNorms get a frozen gamma of ones. */
export async function buildBundled(name: BundledName, size: number): Promise<tf.LayersModel> {
  const { modelTopology } = loadBundledTopology(name);
  return modelFromPatched(patchTopology(modelTopology, { inputSize: size, end: baseEnd(name) }));
}

/** The bundled pretrained weights, by layer (classifier layers included; the caller disposes them). */
export function bundledWeights(name: BundledName): LayerWeightMap {
  const { weightsManifest } = loadBundledTopology(name);
  return groupByLayer(loadBundledWeights(name, weightsManifest));
}
