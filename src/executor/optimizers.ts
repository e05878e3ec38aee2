/** Builds one optimizer per learning-rate group and sets their rates as the schedule moves. */
import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from '../plan/schema.ts';
import { setRate, setWeightDecay } from './backends/fused-optimizers.ts';

/** tfjs's optimizer for `spec` at `lr`, with TL's weight decay where the plan gives one (fused-optimizers.ts). */
export function createOptimizer(spec: Optimizer, lr: number): tf.Optimizer {
  const optimizer = tfjsOptimizer(spec, lr);
  // Plans stored before weight decay existed have no field for it.
  setWeightDecay(optimizer, spec.weightDecay ?? 0);
  return optimizer;
}

function tfjsOptimizer(spec: Optimizer, lr: number): tf.Optimizer {
  switch (spec.kind) {
    case 'adam':
      return tf.train.adam(lr, spec.beta1, spec.beta2, spec.epsilon);
    case 'sgd':
      return spec.momentum > 0 ? tf.train.momentum(lr, spec.momentum) : tf.train.sgd(lr);
    case 'rmsprop':
      return tf.train.rmsprop(lr, spec.rho, spec.momentum, spec.epsilon);
  }
}

/**
 * tfjs reads `learningRate` at every step; plain SGD caches it, hence setLearningRate where present.
 * TL's fused updates read it from a tensor, written now, before the step (fused-optimizers.ts).
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as unknown as { setLearningRate?: (lr: number) => void; learningRate: number };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
  setRate(optimizer);
}

/**
 * Counts a step the optimizer did not take itself: a replayed step (backends/steps.ts) updates
 * the weights on the GPU without running `applyGradients`, which counts tfjs's `iterations`.
 */
export function countStep(optimizer: tf.Optimizer): void {
  (optimizer as unknown as { incrementIterations(): void }).incrementIterations();
}

/** One tensor of an optimizer's state, as tfjs's `getWeights()` gives it. */
export type NamedTensor = { name: string; tensor: tf.Tensor };

/** Adam's running powers of its betas, which tfjs's getWeights leaves out. */
const ADAM_POWERS = ['accBeta1', 'accBeta2'] as const;

/**
 * All of an optimizer's state, for a checkpoint: tfjs's `getWeights()` (iterations, moments) and
 * Adam's running powers of its betas, which tfjs's `setWeights` would recompute as powers, a few
 * last bits away from the products a run multiplies up step by step.
 */
export async function optimizerState(optimizer: tf.Optimizer): Promise<NamedTensor[]> {
  const powers = optimizer as unknown as Partial<Record<(typeof ADAM_POWERS)[number], tf.Variable>>;
  const extra = ADAM_POWERS.flatMap((name) => (powers[name] ? [{ name: `tl:${name}`, tensor: powers[name] }] : []));
  return [...(await optimizer.getWeights()), ...extra];
}

/** Puts back an `optimizerState`. */
export async function restoreOptimizer(optimizer: tf.Optimizer, state: readonly NamedTensor[]): Promise<void> {
  await optimizer.setWeights(state.filter((w) => !w.name.startsWith('tl:')));
  const powers = optimizer as unknown as Record<string, tf.Variable | undefined>;
  for (const w of state) if (w.name.startsWith('tl:')) powers[w.name.slice(3)]?.assign(w.tensor);
}
