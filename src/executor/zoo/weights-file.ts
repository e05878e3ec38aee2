/** `weights "path"`: a Keras .h5 file, or a tfjs model.json (or its folder), read into layer-keyed tensors. */
import * as tf from '@tensorflow/tfjs';
import { open, stat } from 'node:fs/promises';
import { ZooError } from './errors.ts';
import { readKerasH5 } from './keras-h5.ts';
import { groupByLayer, type LayerWeightMap } from './layer-weights.ts';
import { readTfjsModel } from './tfjs-files.ts';

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

async function isHdf5(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await file.read(head, 0, 8, 0);
    return bytesRead === 8 && head.equals(HDF5_SIGNATURE);
  } finally {
    await file.close();
  }
}

export async function readWeightsFile(path: string): Promise<LayerWeightMap> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new ZooError('weights-missing', `weights file ${path} does not exist.`);
  if (info.isFile() && (await isHdf5(path))) return readKerasH5(path);
  if (info.isDirectory() || path.endsWith('.json')) {
    let artifacts: tf.io.ModelArtifacts;
    try {
      artifacts = await readTfjsModel(path);
    } catch (cause) {
      throw new ZooError('weights-mismatch', `${path} is not a readable tfjs model.json with weights: ${(cause as Error).message}.`, { cause });
    }
    if (!artifacts.weightSpecs || artifacts.weightData === undefined) {
      throw new ZooError('weights-mismatch', `${path} has no weights manifest.`);
    }
    return groupByLayer(tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs));
  }
  throw new ZooError(
    'weights-mismatch',
    `${path} is neither a Keras .h5 weights file nor a tfjs model.json; save Keras weights with save_weights('w.h5') or convert with tensorflowjs_converter.`,
  );
}
