import * as tf from '@tensorflow/tfjs';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { setUpWebgpu } from './setup.ts';
import { msPerCall } from './timing.ts';
await setUpWebgpu();
const cases: [number, number, number, number, number, number][] = JSON.parse(process.env.CASES ?? '[[32,7,512,512,3,1]]');
for (const [n, h, ci, co, k, s] of cases) {
  const x = tf.randomNormal([n, h, h, ci]); const w = tf.randomNormal([k, k, ci, co]);
  const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same'); const dy = tf.randomNormal(y.shape);
  const attrs = { strides: [s, s], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined } as unknown as tf.NamedAttrMap;
  const flops = 2 * n * y.shape[1]! * y.shape[2]! * co * ci * k * k;
  const row: string[] = [];
  for (const mode of ['stock', 'tl']) {
    if (mode === 'stock') unregisterWebgpuTrainingKernels(); else registerWebgpuTrainingKernels();
    const f = await msPerCall(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, 'same'), 2, 1);
    const bf = await msPerCall(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor, 2, 1);
    const bi = await msPerCall(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor, 2, 1);
    row.push(`${mode}: fwd ${f.toFixed(0)} ms (${(flops / f / 1e6).toFixed(1)} GF/s) bpf ${bf.toFixed(0)} (${(flops / bf / 1e6).toFixed(1)}) bpi ${bi.toFixed(0)} (${(flops / bi / 1e6).toFixed(1)})`);
  }
  console.log(JSON.stringify([n, h, ci, co, k, s]), row.join(' | '));
  tf.dispose([x, w, y, dy]);
}
