/**
 * The coarse block map (block1..block5) over a base's layers. Zoo models take it from the catalog's
 * block ends; user models from output strides: block k starts at the first layer whose output has been
 * downsampled 2^k times (block1 up to stride 2, block5 from stride 32).
 */
import * as tf from '@tensorflow/tfjs';
import { didYouMean } from '../../diagnostics/suggest.ts';
import { BLOCKS, type BlockName } from '../../zoo/catalog.ts';
import { ZooError } from './errors.ts';

export type BlockMap = ReadonlyMap<string, BlockName>;

/** `layers` in model order; each layer belongs to the first block whose end is at or after it. */
export function blocksFromEnds(layers: readonly string[], ends: readonly string[], model: string): BlockMap {
  const map = new Map<string, BlockName>();
  let b = 0;
  for (const layer of layers) {
    const block = BLOCKS[b];
    if (block === undefined) break;
    map.set(layer, block);
    if (layer === ends[b]) b++;
  }
  const missing = ends.filter((end) => !map.has(end));
  if (missing.length > 0) throw new Error(`zoo ${model}: block ends ${missing.join(', ')} are not layers of the network`);
  return map;
}

function spatialSize(layer: tf.layers.Layer): number | null {
  const shape = layer.outputShape;
  // A layer with several outputs has an array of shapes; blocks follow single feature maps.
  if (!Array.isArray(shape) || shape.length !== 4 || Array.isArray(shape[0])) return null;
  const h = shape[1];
  return typeof h === 'number' ? h : null;
}

/**
 * Blocks from how far each layer's output has been downsampled relative to `inputSize`. A feature map
 * of height h counts as stride 2^k once h <= ceil(inputSize / 2^k), which is what 'same' padding gives.
 */
export function blocksFromStrides(layers: readonly tf.layers.Layer[], inputSize: number): BlockMap {
  const map = new Map<string, BlockName>();
  let k = 0;
  for (const layer of layers) {
    const h = spatialSize(layer);
    if (h !== null) {
      while (k < BLOCKS.length && h <= Math.ceil(inputSize / 2 ** (k + 1))) k++;
    }
    map.set(layer.name, BLOCKS[Math.min(Math.max(k, 1), BLOCKS.length) - 1]!);
  }
  return map;
}

/** The last layer of `block`, or of the deepest earlier block when the network never gets that deep. */
export function blockEnd(map: BlockMap, block: string, model: string): string {
  const index = (BLOCKS as readonly string[]).indexOf(block);
  if (index < 0) throw new ZooError('unknown-block', `unknown block '${block}'; expected one of ${BLOCKS.join(', ')}.`);
  let end: string | undefined;
  for (const [layer, b] of map) if (BLOCKS.indexOf(b) <= index) end = layer;
  if (end === undefined) {
    throw new ZooError('unknown-block', `${model} has no layers in ${block} or before it (its first layer already downsamples further).`);
  }
  return end;
}

export function unknownLayerError(layer: string, known: readonly string[], model: string): ZooError {
  return new ZooError('unknown-layer', `${model} has no layer '${layer}'${didYouMean(layer, known)}`);
}

/** `blockOf` for the base: throws 'unknown-layer' for names the base does not have. */
export function blockLookup(map: BlockMap, model: string): (layer: string) => BlockName {
  return (layer) => {
    const block = map.get(layer);
    if (block === undefined) throw unknownLayerError(layer, [...map.keys()], model);
    return block;
  };
}
