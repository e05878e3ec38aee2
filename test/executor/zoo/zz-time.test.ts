import * as tf from '@tensorflow/tfjs';
import { it } from 'vitest';
import { buildBase } from '../../../src/executor/zoo/build-base.ts';
import { zoo } from './spec.ts';
it('t', async () => {
  await tf.setBackend('cpu');
  for (const layer of ['activation_3', 'mixed0']) {
  let t = Date.now();
  const base = await buildBase(zoo('inceptionv3', 75, { weights: { kind: 'imagenet' }, cut: { kind: 'layer', layer } }), { baseDir: '.' });
  console.log('build+load', Date.now() - t); t = Date.now();
  const x = tf.randomUniform([2, 75, 75, 3]);
  const f = () => tf.mean(base.model.apply(x) as tf.Tensor) as tf.Scalar;
  const g = tf.variableGrads(f);
  console.log(layer, 'grad', Date.now() - t, Object.keys(g.grads).length);
  }
}, 300000);
