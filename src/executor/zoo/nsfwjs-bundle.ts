/**
 * Thin adapter over the Keras-converted models that nsfwjs ships as UMD scripts: `model.min.js`
 * exports `{ modelTopology, weightsManifest }`, each `group1-shard*.min.js` a base64 string of weight
 * bytes. The tfjs-format checks happen here so the rest of the zoo sees typed values.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export type BundledName = 'mobilenetv2' | 'inceptionv3';

const FOLDERS: Record<BundledName, string> = { mobilenetv2: 'mobilenet_v2', inceptionv3: 'inception_v3' };

export interface BundledTopology {
  /** Keras model JSON (`keras_version`, `model_config`, ...), untyped data. */
  readonly modelTopology: unknown;
  readonly weightsManifest: tf.io.WeightsManifestConfig;
}

function modelsDir(): string {
  // The package's `exports` hide dist/models; its entry point sits at dist/cjs/index.js.
  return join(dirname(require.resolve('nsfwjs')), '..', 'models');
}

/** Loads a UMD script once, then drops it from the require cache: the shards are megabytes of base64. */
function loadScript(path: string): unknown {
  const resolved = require.resolve(path);
  try {
    return require(resolved) as unknown;
  } finally {
    delete require.cache[resolved];
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function loadBundledTopology(name: BundledName): BundledTopology {
  const path = join(modelsDir(), FOLDERS[name], 'model.min.js');
  const mod = loadScript(path);
  if (!isRecord(mod) || !isRecord(mod['modelTopology']) || !Array.isArray(mod['weightsManifest'])) {
    throw new Error(`nsfwjs bundle ${path} does not export { modelTopology, weightsManifest }`);
  }
  return { modelTopology: mod['modelTopology'], weightsManifest: mod['weightsManifest'] as tf.io.WeightsManifestConfig };
}

/** The bundled weights, decoded (uint8 dequantisation included) into tensors keyed by weight name. */
export function loadBundledWeights(name: BundledName, manifest: tf.io.WeightsManifestConfig): tf.NamedTensorMap {
  const dir = join(modelsDir(), FOLDERS[name]);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const shard of group.paths) {
      const text = loadScript(join(dir, `${shard}.min.js`));
      if (typeof text !== 'string') throw new Error(`nsfwjs shard ${shard} is not a base64 string`);
      buffers.push(Buffer.from(text, 'base64'));
    }
  }
  const all = Buffer.concat(buffers);
  const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return tf.io.decodeWeights(data, specs);
}
