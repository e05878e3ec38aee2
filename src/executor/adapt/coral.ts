/**
 * Deep CORAL (Sun and Saenko, 2016): the squared Frobenius distance between the source and target
 * feature covariances, over 4d², added to the classification loss with a weight.
 */
import * as tf from '@tensorflow/tfjs';
import type { StepTerm } from './types.ts';

export function covariance(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const n = x.shape[0];
    const centred = tf.sub(x, tf.mean(x, 0, true));
    return tf.div(tf.matMul(centred, centred, true, false), Math.max(1, n - 1)) as tf.Tensor2D;
  });
}

export function coralLoss(source: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const d = source.shape[1];
    return tf.div(tf.sum(tf.square(tf.sub(covariance(source), covariance(target)))), 4 * d * d) as tf.Scalar;
  });
}

export function coralTerm(weight: number, targetRows: (count: number) => Int32Array): StepTerm {
  return {
    targetRows,
    domainHits: false,
    values: () => [],
    loss({ features, sourceCount }) {
      const source = features.slice([0, 0], [sourceCount, -1]);
      const target = features.slice([sourceCount, 0], [-1, -1]);
      const distance = coralLoss(source, target);
      return { loss: tf.mul(distance, weight) as tf.Scalar };
    },
  };
}
