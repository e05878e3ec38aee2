/**
 * Training-mode BatchNorm as one op (src/executor/backends/batchnorm-training.ts, the wasm kernels
 * in wasm-kernels/batchnorm.ts), with the ReLU or ReLU6 after each BatchNorm fused as `tl run`
 * marks them, against tfjs-layers' own BatchNorm (moments, FusedBatchNorm and autodiff through
 * them) on the wasm backend: ms a training step (fresh weights, every layer trainable, Adam), least
 * and median of `--reps` steps after one warm-up, alternating the two `--rounds` times, and kernels
 * a step. ResNet50 trains at batch 8: at batch 32 and 96 px it crashed in wasm's 4 GB heap once and
 * crawled at its edge (4.4 GB resident, no step in 30 minutes) the next time.
 *
 *   npx tsx bench/batchnorm-train.ts [--networks mobilenetv2:32,resnet50:8] [--size 96] [--reps 2] [--rounds 3]
 */
import * as tf from '@tensorflow/tfjs';
import { compile } from '../src/compile.ts';
import { registerTrainingBatchNorm, unregisterTrainingBatchNorm } from '../src/executor/backends/batchnorm-training.ts';
import { selectBackend } from '../src/executor/backends/select.ts';
import { WASM_BATCHNORM } from '../src/executor/backends/wasm-kernels/batchnorm.ts';
import { fuseActivationsForTraining } from '../src/executor/fold-batchnorm.ts';
import { assemble } from '../src/executor/network.ts';
import { buildBase } from '../src/executor/zoo/index.ts';
import { numberOption, option } from './args.ts';

const networks = option('networks', 'mobilenetv2:32,resnet50:8').split(',').map((n) => n.split(':') as [string, string]);
const size = numberOption('size', 96);
const reps = numberOption('reps', 2);
const rounds = numberOption('rounds', 3);
await selectBackend('wasm');

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!;

console.log(`wasm, ${size} px, Adam; ms a training step, ${rounds} rounds of ${reps} steps each way, alternating`);
console.log('| network | batch | BatchNorm pairs fused | ms least, tfjs-layers | ms least, TL op | ms median, tfjs-layers | ms median, TL op | speed-up (least) | kernels, tfjs-layers | kernels, TL op |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [name, batchText] of networks) {
  const batch = Number(batchText);
  const plan = compile(`use ${name} input ${size} weights none`).plan!;
  const net = assemble(await buildBase(plan.model, { baseDir: process.cwd() }), plan, 10);
  const fused = fuseActivationsForTraining(net.full);
  const x = tf.randomUniform([batch, size, size, 3], -1, 1);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10).toFloat();
  const optimizer = tf.train.adam(1e-4);
  const vars = net.full.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = async () => {
    const loss = optimizer.minimize(() => tf.mean(tf.metrics.categoricalCrossentropy(y, net.full.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, true, vars)!;
    await loss.data();
    loss.dispose();
  };
  const kernels = async () => (await tf.profile(step)).kernels.length;
  const ms: Record<'tfjs' | 'tl', number[]> = { tfjs: [], tl: [] };
  const counts: Record<'tfjs' | 'tl', number> = { tfjs: 0, tl: 0 };
  for (let round = 0; round < rounds; round++) {
    for (const way of ['tfjs', 'tl'] as const) {
      if (way === 'tl') registerTrainingBatchNorm('wasm', WASM_BATCHNORM);
      else unregisterTrainingBatchNorm('wasm');
      await step();
      for (let i = 0; i < reps; i++) {
        const t = performance.now();
        await step();
        ms[way].push(performance.now() - t);
      }
      if (round === 0) counts[way] = await kernels();
    }
  }
  const cell = (way: 'tfjs' | 'tl', q: number) => quantile(ms[way], q).toFixed(0);
  console.log(`| ${name} | ${batch} | ${fused.pairs.length} | ${cell('tfjs', 0)} | ${cell('tl', 0)} | ${cell('tfjs', 0.5)} | ${cell('tl', 0.5)} | ${(quantile(ms.tfjs, 0) / quantile(ms.tl, 0)).toFixed(2)}x | ${counts.tfjs} | ${counts.tl} |`);
  fused.restore();
  tf.dispose([x, y]);
  optimizer.dispose();
  net.full.dispose();
}
registerTrainingBatchNorm('wasm', WASM_BATCHNORM);
