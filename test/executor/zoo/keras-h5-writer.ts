import h5wasm, { type Group } from 'h5wasm/node';

export interface H5Weight {
  /** As Keras writes it: 'block1_conv/kernel:0'. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export interface H5Layer {
  readonly name: string;
  readonly weights: readonly H5Weight[];
}

/** h5py stores Keras' name lists as fixed-length byte strings. */
function fixedStrings(group: Group, attr: string, values: readonly string[]): void {
  const width = Math.max(1, ...values.map((v) => v.length));
  group.create_attribute(attr, [...values], [values.length], `S${width}`);
}

/**
 * Writes a Keras 2 weights file: `layer_names` on the root (or on `model_weights` for a whole-model
 * file), `weight_names` on each layer group, datasets at `<layer>/<weight name>`.
 */
export async function writeKerasH5(path: string, layers: readonly H5Layer[], options: { wholeModel?: boolean } = {}): Promise<void> {
  await h5wasm.ready;
  const file = new h5wasm.File(path, 'w');
  try {
    const root: Group = options.wholeModel ? file.create_group('model_weights') : file;
    if (options.wholeModel) file.create_attribute('model_config', '{"class_name": "Functional"}');
    fixedStrings(root, 'layer_names', layers.map((l) => l.name));
    root.create_attribute('backend', 'tensorflow');
    root.create_attribute('keras_version', '2.13.1');
    for (const layer of layers) {
      const group = root.create_group(layer.name);
      fixedStrings(group, 'weight_names', layer.weights.map((w) => w.name));
      for (const w of layer.weights) {
        // Dataset paths follow the weight name, so 'block1_conv/kernel:0' lands in a subgroup.
        const slash = w.name.lastIndexOf('/');
        const parent = slash < 0 ? group : (group.get(w.name.slice(0, slash)) as Group | null) ?? group.create_group(w.name.slice(0, slash));
        parent.create_dataset({ name: w.name.slice(slash + 1), data: w.values, shape: [...w.shape], dtype: '<f' });
      }
    }
  } finally {
    file.close();
  }
}

/** Deterministic distinct values, so a mix-up between weights shows. */
export function ramp(shape: readonly number[], seed: number): Float32Array {
  const n = shape.reduce((a, d) => a * d, 1);
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i) * 0.5);
}
