/** Builds one optimizer per learning-rate group and sets their rates as the schedule moves. */
import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from '../plan/schema.ts';
import { setRate } from './backends/fused-optimizers.ts';

export function createOptimizer(spec: Optimizer, lr: number): tf.Optimizer {
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
