/**
 * Reads Keras (2.x, "legacy h5") weight files with h5wasm: the root (or the `model_weights` group of a
 * whole-model file) has the attribute `layer_names`; each layer group has `weight_names`, and the
 * values are datasets at `<layer>/<weight_name>` ('conv1_conv/conv1_conv/kernel:0').
 */
import * as tf from '@tensorflow/tfjs';
import h5wasm, { Dataset, Group } from 'h5wasm/node';
import { ZooError } from './errors.ts';
import { addWeight, disposeWeights, layerOfWeightName, shortWeightName, type LayerWeightMap } from './layer-weights.ts';

/** h5py writes fixed-length byte strings; h5wasm hands them back as strings (older files: bytes). */
function stringList(value: unknown): string[] {
  const one = (v: unknown): string =>
    typeof v === 'string' ? v : v instanceof Uint8Array ? new TextDecoder().decode(v).replace(/\0+$/, '') : String(v);
  if (Array.isArray(value)) return value.map(one);
  if (value === null || value === undefined) return [];
  return [one(value)];
}

function toFloat32(value: unknown, where: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new ZooError('weights-mismatch', `dataset ${where} is not float32 or float64; convert the file to float32 weights.`);
}

/**
 * Reads every layer's weights from a Keras .h5 file into tensors (the caller disposes them).
 * A group whose weight names point at several other layers (a nested model) is split by those names.
 */
export async function readKerasH5(path: string): Promise<LayerWeightMap> {
  await h5wasm.ready;
  let file: InstanceType<typeof h5wasm.File>;
  try {
    file = new h5wasm.File(path, 'r');
  } catch (cause) {
    throw new ZooError('weights-mismatch', `${path} is not a readable HDF5 file.`, { cause });
  }
  const map: LayerWeightMap = new Map();
  try {
    const nested = file.get('model_weights');
    const root = nested instanceof Group ? nested : file;
    const layerNames = stringList(root.attrs['layer_names']?.value);
    if (layerNames.length === 0) {
      throw new ZooError(
        'weights-mismatch',
        `${path} has no 'layer_names' attribute: it is not a Keras 2 (h5) weights file; Keras 3 .weights.h5 files need re-saving with save_weights in h5 format from Keras 2 or tf.keras.`,
      );
    }
    for (const layerName of layerNames) {
      const group = root.get(layerName);
      if (!(group instanceof Group)) continue;
      const weightNames = stringList(group.attrs['weight_names']?.value);
      const owners = new Set(weightNames.map((w) => layerOfWeightName(w) ?? layerName));
      const split = owners.size > 1;
      for (const weightName of weightNames) {
        const dataset = group.get(weightName);
        const where = `${path}:${layerName}/${weightName}`;
        if (!(dataset instanceof Dataset)) throw new ZooError('weights-mismatch', `${where} is listed in weight_names but missing.`);
        const shape = dataset.shape ?? [];
        const owner = split ? (layerOfWeightName(weightName) ?? layerName) : layerName;
        addWeight(map, owner, shortWeightName(weightName), tf.tensor(toFloat32(dataset.value, where), shape, 'float32'));
      }
    }
    return map;
  } catch (err) {
    disposeWeights(map);
    throw err;
  } finally {
    file.close();
  }
}
