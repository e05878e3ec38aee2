/**
 * tfjs Layers models on the local disk (model.json + binary shards). Pure tfjs loaders only speak
 * http(s) and browser storage under Node, so the files are read here and handed over in memory.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** `path` may name the model.json itself or the folder holding it. */
export async function modelJsonPath(path: string): Promise<string> {
  const info = await stat(path);
  return info.isDirectory() ? join(path, 'model.json') : path;
}

/** Reads model.json and its weight shards (paths relative to model.json) into ModelArtifacts. */
export async function readTfjsModel(path: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = await modelJsonPath(path);
  const json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
  if (typeof json !== 'object' || json === null || typeof json.modelTopology !== 'object') {
    throw new Error(`${jsonPath} has no modelTopology: it is not a tfjs Layers model.json`);
  }
  return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const shard of group.paths) {
        const bytes = await readFile(join(dirname(jsonPath), decodeURIComponent(shard)));
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      }
    }
    return [specs, tf.io.concatenateArrayBuffers(buffers)];
  });
}

/**
 * An IOHandler that saves to a folder as model.json + weights.bin, the layout `readTfjsModel` and
 * tfjs' own http loader read. Example: `await model.save(saveToDirectory('out/model'))`.
 */
export function saveToDirectory(dir: string): tf.io.IOHandler {
  return tf.io.withSaveHandler(async (artifacts) => {
    await mkdir(dir, { recursive: true });
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
