/**
 * Inference with each BatchNorm folded into its convolution (src/executor/fold-batchnorm.ts)
 * against the same network unfolded, on the wasm backend (TL's default here): ms a batch, least of
 * `--reps` after one warm-up, alternating the two three times, and kernels a batch.
 *
 *   npx tsx bench/fold.ts [--batch 32] [--reps 3]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { foldBatchNorms } from '../src/executor/fold-batchnorm.ts';
import { buildNetwork } from '../src/executor/zoo/networks.ts';
import { numberOption } from './args.ts';

const batch = numberOption('batch', 32);
const reps = numberOption('reps', 3);
await tf.setBackend('wasm');

console.log(`wasm, batch ${batch}; ms a batch, least of ${reps} x 3 alternating`);
console.log('| network | px | BatchNorms folded | ms, as built | ms, folded | speed-up | kernels, as built | kernels, folded |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [name, size] of [['mobilenetv2', 96], ['resnet50', 96], ['inceptionv3', 96]] as const) {
  const model = await buildNetwork(name, size);
  const x = tf.randomUniform([batch, size, size, 3]);
  const predict = async () => {
    const y = model.predict(x) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  const least = async () => {
    let best = Infinity;
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      await predict();
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };
  const kernels = async () => {
    const { kernels: k, result } = await tf.profile(() => model.predict(x) as tf.Tensor);
    tf.dispose(result as tf.Tensor);
    return k.length;
  };
  await predict();
  let plain = Infinity;
  let fused = Infinity;
  let chains = 0;
  let plainKernels = 0;
  let fusedKernels = 0;
  for (let round = 0; round < 3; round++) {
    plain = Math.min(plain, await least());
    plainKernels = await kernels();
    const folded = foldBatchNorms(model);
    await predict(); // folds the weights
    fused = Math.min(fused, await least());
    fusedKernels = await kernels();
    chains = folded.chains.length;
    folded.restore();
  }
  console.log(`| ${name} | ${size} | ${chains} | ${plain.toFixed(0)} | ${fused.toFixed(0)} | ${(plain / fused).toFixed(2)}x | ${plainKernels} | ${fusedKernels} |`);
  tf.dispose(x);
  model.dispose();
}
