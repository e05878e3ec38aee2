import * as tf from '@tensorflow/tfjs';
import { it } from 'vitest';
import { webgpuEnv } from './webgpu-env.ts';
import { values, weightedSum } from './parity.ts';
await webgpuEnv();
it('dbg', async () => {
  const x = tf.tensor(values([1,5,1,5], 1), [1,5,1,5]) as tf.Tensor4D; const w = tf.tensor(values([2,1,5,3], 2), [2,1,5,3]) as tf.Tensor4D;
  const y = tf.conv2d(x, w, [1, 2], 0); console.log('y', y.shape, await y.data());
  const s = weightedSum(y); console.log('s', await s.data());
  const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => weightedSum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, [1,2], 0)))([x, w]);
  for (const t of g) console.log(t.shape, await t.data());
});
