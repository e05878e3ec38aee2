/**
 * tfjs Layers models on the local disk (model.json + binary shards). Pure tfjs loaders only speak
 * http(s) and browser storage under Node, so the files are read here and handed over in memory.
 */
import * as tf from '@tensorflow/tfjs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { makeDirectory } from '../make-directory.ts';

/** `path` may name the model.json itself or the folder holding it. */
export async function modelJsonPath(path: string): Promise<string> {
  const info = await stat(path);
  return info.isDirectory() ? join(path, 'model.json') : path;
}

/**
 * Reads model.json and its weight shards (paths relative to model.json) into ModelArtifacts. Each
 * error says which file and why: not JSON, no topology, a missing shard, or shards that hold other
 * than the bytes the manifest's weights need (a truncated copy, which tfjs would only report as a
 * tensor of the wrong size).
 */
export async function readTfjsModel(path: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = await modelJsonPath(path);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`${jsonPath} is not JSON (${err.message.replace(/\s+/g, ' ')})`);
    throw err;
  }
  if (typeof json !== 'object' || json === null || typeof json.modelTopology !== 'object') {
    throw new Error(`${jsonPath} has no modelTopology: it is not a tfjs Layers model.json`);
  }
  return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const shard of group.paths) {
        const file = join(dirname(jsonPath), decodeURIComponent(shard));
        const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
          throw new Error(err.code === 'ENOENT' ? `${jsonPath} names the weights file ${file}, which does not exist` : `cannot read ${file}: ${err.message}`);
        });
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      }
    }
    const data = tf.io.concatenateArrayBuffers(buffers);
    const need = weightBytes(specs);
    if (need !== null && need !== data.byteLength) {
      throw new Error(`${jsonPath}'s weights need ${need} bytes, but its weights files hold ${data.byteLength}: they are incomplete or damaged`);
    }
    return [specs, data];
  });
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** The bytes `specs` take in a shard, or null where that is not fixed (strings). */
function weightBytes(specs: readonly tf.io.WeightsManifestEntry[]): number | null {
  let total = 0;
  for (const spec of specs) {
    const per = BYTES[spec.quantization?.dtype ?? spec.dtype];
    if (per === undefined) return null;
    total += spec.shape.reduce((a, b) => a * b, 1) * per;
  }
  return total;
}

/**
 * An IOHandler that saves to a folder as model.json + weights.bin, the layout `readTfjsModel` and
 * tfjs' own http loader read. Example: `await model.save(saveToDirectory('out/model'))`.
 */
export function saveToDirectory(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    makeDirectory(dir);
    const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    const modelJson: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology ?? {},
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
      ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    };
    const json = JSON.stringify(modelJson);
    await writeFile(join(dir, 'weights.bin'), new Uint8Array(weightData));
    await writeFile(join(dir, 'model.json'), json);
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        modelTopologyBytes: json.length,
        weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
        weightDataBytes: weightData.byteLength,
      },
    };
  });
}
