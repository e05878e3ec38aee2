/**
 * DANN (Ganin et al., 2016): a domain classifier on the head's input features behind a gradient
 * reversal layer. The classifier learns to tell source from target; the reversed gradient, scaled by
 * `weight` × Ganin's ramp 2/(1+exp(-10p)) - 1 (p: training progress 0..1), pushes the features to
 * make the domains indistinguishable.
 */
import * as tf from '@tensorflow/tfjs';
import type { StepTerm } from './types.ts';

/** Ganin et al.'s schedule for the reversal weight: 0 at the start, about 1 by the end. */
export function reversalRamp(progress: number): number {
  return 2 / (1 + Math.exp(-10 * progress)) - 1;
}

/** Identity forward; the gradient multiplied by -lambda on the way back (lambda a number or a scalar tensor). */
export function reverseGradient(x: tf.Tensor, lambda: number | tf.Scalar): tf.Tensor {
  const op = tf.customGrad(((input: tf.Tensor) => ({
    value: tf.clone(input),
    gradFunc: (dy: tf.Tensor) => tf.mul(dy, typeof lambda === 'number' ? -lambda : tf.neg(lambda)),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x);
}

export interface DomainClassifier {
  /** Logits, one per row: positive means "target". */
  apply(features: tf.Tensor2D): tf.Tensor2D;
  readonly variables: tf.Variable[];
  dispose(): void;
}

/** Ganin et al.'s small MLP (one hidden layer of 100 ReLU units). */
export function domainClassifier(featureSize: number, seed: number, hidden = 100): DomainClassifier {
  const layers = [
    tf.layers.dense({ units: hidden, activation: 'relu', name: 'dann_domain_hidden', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
    tf.layers.dense({ units: 1, name: 'dann_domain_out', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
  ];
  const model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: [featureSize] }), ...layers], name: 'dann_domain' });
  return {
    apply: (features) => model.apply(features, { training: true }) as tf.Tensor2D,
    variables: model.trainableWeights.map((w) => w.read() as tf.Variable),
    dispose: () => model.dispose(),
  };
}

export function dannTerm(weight: number, classifier: DomainClassifier, targetRows: (count: number) => Int32Array): StepTerm {
  return {
    targetRows,
    domainHits: true,
    // The reversal's weight ramps with every step: a value of the step's, not a constant of its commands.
    values: (_rows, progress) => [tf.scalar(weight * reversalRamp(progress))],
    loss({ features, sourceCount, targetCount }, [lambda]) {
      const domain = tf.concat([tf.zeros([sourceCount, 1]), tf.ones([targetCount, 1])]);
      const logits = classifier.apply(reverseGradient(features, lambda as tf.Scalar) as tf.Tensor2D);
      const loss = tf.losses.sigmoidCrossEntropy(domain, logits) as tf.Scalar;
      const domainHits = tf.sum(tf.cast(tf.equal(tf.greater(logits, 0), tf.greater(domain, 0.5)), 'float32')) as tf.Scalar;
      return { loss, domainHits };
    },
  };
}
