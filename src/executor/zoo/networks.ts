/** Which builder and which input preprocessing each zoo model uses. */
import * as tf from '@tensorflow/tfjs';
import { buildBundled, isBundled } from './bundled-models.ts';
import { PREPROCESS_CAFFE, PREPROCESS_SYMMETRIC, PREPROCESS_UNIT, type Preprocess } from './preprocess.ts';
import { buildResnet50 } from './resnet50.ts';
import { buildTiny } from './tiny.ts';
import { buildVgg16 } from './vgg16.ts';

/** The zoo network `name` (a catalog name) at a square input size, fresh weights, no classifier. */
export async function buildNetwork(name: string, size: number): Promise<tf.LayersModel> {
  if (isBundled(name)) return buildBundled(name, size);
  switch (name) {
    case 'resnet50':
      return buildResnet50(size);
    case 'vgg16':
      return buildVgg16(size);
    case 'tiny':
      return buildTiny(size);
    default:
      throw new Error(`zoo: no builder for '${name}'`);
  }
}

/** The input mapping the pretrained weights expect (Keras' `preprocess_input` of each application). */
export function preprocessOf(name: string): Preprocess {
  if (isBundled(name)) return PREPROCESS_SYMMETRIC;
  if (name === 'resnet50' || name === 'vgg16') return PREPROCESS_CAFFE;
  return PREPROCESS_UNIT;
}

/** Base layer names in model order, input layers excluded. */
export function baseLayerNames(model: tf.LayersModel): string[] {
  return model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name);
}
