/**
 * Applies one phase's trainable set to the network and groups its variables by learning-rate factor.
 * The rule (the plan's): a base layer trains when the phase names it, or its block is listed and it
 * does not lie at or before `frozenThrough`; the head always trains.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Phase } from '../plan/schema.ts';
import type { Network } from './network.ts';

export interface VariableGroup {
  readonly factor: number;
  readonly variables: tf.Variable[];
}

export interface PhaseVariables {
  readonly groups: readonly VariableGroup[];
  readonly trainableParams: number;
  /** The units (blocks, layers, `head`) whose trained layers learn at a factor other than 1, as the plan keys them. */
  readonly unitFactors: readonly { readonly unit: string; readonly factor: number }[];
}

export function applyPhase(net: Network, phase: Phase): PhaseVariables {
  const { base } = net;
  const boundary = phase.frozenThrough === null ? -1 : base.layers.indexOf(phase.frozenThrough);
  const byFactor = new Map<number, tf.Variable[]>();
  const unitFactors = new Map<string, number>();
  let params = 0;
  const add = (layer: tf.layers.Layer, ...units: string[]) => {
    // A layer's own factor (it is named in `unfreeze` or has its own rate) wins over its block's.
    const unit = units.find((u) => phase.lrMultipliers?.[u] !== undefined);
    const factor = unit === undefined ? 1 : phase.lrMultipliers![unit]!;
    if (unit !== undefined && factor !== 1 && layer.trainableWeights.length > 0) unitFactors.set(unit, factor);
    for (const w of layer.trainableWeights) {
      const v = w.read() as tf.Variable;
      params += v.size;
      const list = byFactor.get(factor);
      if (list) list.push(v);
      else byFactor.set(factor, [v]);
    }
  };

  for (const layer of base.model.layers) {
    const index = base.layers.indexOf(layer.name);
    if (index < 0) {
      layer.trainable = false; // the input layer
      continue;
    }
    const block = base.blockOf(layer.name);
    const named = phase.trainableLayers.includes(layer.name);
    const trains = named || (phase.trainable.includes(block) && index > boundary);
    layer.trainable = trains;
    if (!trains) continue;
    add(layer, layer.name, block);
  }
  for (const layer of net.head.layers) {
    layer.trainable = true;
    add(layer, 'head');
  }
  const groups = [...byFactor.entries()].map(([factor, variables]) => ({ factor, variables }));
  return { groups, trainableParams: params, unitFactors: [...unitFactors].map(([unit, factor]) => ({ unit, factor })) };
}
