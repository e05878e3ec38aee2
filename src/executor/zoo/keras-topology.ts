/**
 * Rewrites a Keras/tfjs model topology (the JSON inside model.json) before tfjs builds it: another
 * square input size, the graph truncated at a named layer, every layer trainable (freezing is the
 * executor's decision), and BatchNormalization without `scale` given an explicit gamma, because
 * tfjs' batch-norm gradient crashes on a missing gamma.
 */
import * as tf from '@tensorflow/tfjs';

interface LayerJson {
  name?: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown;
}

export interface PatchOptions {
  /** New square input size, or null to keep the topology's own. */
  readonly inputSize: number | null;
  /** Keep only this layer and its ancestors (Sequential: the layers up to it) and make it the single output. */
  readonly end?: string;
}

export interface PatchedTopology {
  readonly modelTopology: Record<string, unknown>;
  /** BatchNormalization layers that had `scale: false`; their gamma must stay ones and frozen. */
  readonly scaleAdded: readonly string[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Functional layers carry `name`; Sequential ones only `config.name`. */
function layerName(layer: LayerJson): string | undefined {
  const name = layer.name ?? layer.config['name'];
  return typeof name === 'string' ? name : undefined;
}

function layersOf(modelConfig: Record<string, unknown>): LayerJson[] {
  const config = modelConfig['config'];
  // Keras 2 Sequential JSON may hold the layer list directly in `config`.
  const layers = Array.isArray(config) ? config : isRecord(config) ? config['layers'] : undefined;
  if (!Array.isArray(layers)) throw new Error('model topology has no layer list');
  return layers.filter((l): l is LayerJson => isRecord(l) && typeof l['class_name'] === 'string' && isRecord(l['config']));
}

/** Names of the layers feeding `layer`, from Keras' `inbound_nodes: [[[name, node, tensor, kwargs], ...], ...]`. */
function inboundNames(layer: LayerJson): string[] {
  const names: string[] = [];
  if (!Array.isArray(layer.inbound_nodes)) return names;
  for (const node of layer.inbound_nodes) {
    if (!Array.isArray(node)) continue;
    for (const edge of node) if (Array.isArray(edge) && typeof edge[0] === 'string') names.push(edge[0]);
  }
  return names;
}

function truncate(config: Record<string, unknown>, layers: LayerJson[], end: string): LayerJson[] {
  const byName = new Map(layers.map((l) => [layerName(l), l]));
  if (!byName.has(end)) throw new Error(`model topology has no layer '${end}'`);
  const keep = new Set<string>();
  const stack = [end];
  for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
    if (keep.has(name)) continue;
    keep.add(name);
    const layer = byName.get(name);
    if (layer) stack.push(...inboundNames(layer));
  }
  config['output_layers'] = [[end, 0, 0]];
  return layers.filter((l) => keep.has(layerName(l) ?? ''));
}

export function patchTopology(topology: unknown, options: PatchOptions): PatchedTopology {
  if (!isRecord(topology)) throw new Error('model topology is not a JSON object');
  const modelTopology = structuredClone(topology);
  const modelConfig = modelTopology['model_config'] ?? modelTopology;
  if (!isRecord(modelConfig)) throw new Error('model topology has no model_config');
  let layers = layersOf(modelConfig);
  const config = modelConfig['config'];
  if (options.end !== undefined) {
    const end = options.end;
    if (modelConfig['class_name'] === 'Sequential') {
      const index = layers.findIndex((l) => layerName(l) === end);
      if (index < 0) throw new Error(`model topology has no layer '${end}'`);
      layers = layers.slice(0, index + 1);
    } else {
      if (!isRecord(config)) throw new Error('model topology has no functional config');
      layers = truncate(config, layers, end);
    }
    if (isRecord(config)) config['layers'] = layers;
    else modelConfig['config'] = layers;
  }
  const scaleAdded: string[] = [];
  for (const layer of layers) {
    const c = layer.config;
    if ('trainable' in c) c['trainable'] = true;
    const shape = c['batch_input_shape'];
    if (options.inputSize !== null && Array.isArray(shape) && shape.length === 4) {
      c['batch_input_shape'] = [shape[0] ?? null, options.inputSize, options.inputSize, shape[3]];
    }
    if (layer.class_name === 'BatchNormalization' && c['scale'] === false) {
      c['scale'] = true;
      c['gamma_initializer'] = { class_name: 'Ones', config: {} };
      const name = layerName(layer);
      if (name !== undefined) scaleAdded.push(name);
    }
  }
  return { modelTopology, scaleAdded };
}

/** Builds the patched topology with fresh weights; gammas added for `scale: false` stay ones and untrainable. */
export async function modelFromPatched(patched: PatchedTopology): Promise<tf.LayersModel> {
  const model = await tf.models.modelFromJSON({
    // Validated JSON from patchTopology; tfjs types it as its own Python-style dict.
    modelTopology: patched.modelTopology as tf.ModelAndWeightsConfig['modelTopology'],
  });
  for (const name of patched.scaleAdded) {
    for (const v of model.getLayer(name).weights) if (v.originalName.endsWith('/gamma')) v.trainable = false;
  }
  return model;
}
