/**
 * The work one training step queues on the webgpu backend (programs dispatched, tensors uploaded
 * from JavaScript), the host time it takes to queue it, and its wall time, with tfjs's kernels and
 * with TL's, for ResNet50 and MobileNetV2 under SGD and Adam. The counts do not depend on the
 * adapter, so this runs anywhere webgpu does, the software adapter included (the default without a
 * Vulkan loader). The host time is the least of `--reps` steps (timing.ts `countWork`); on the
 * software adapter run it with LP_NUM_THREADS=0, so that no shader runs beside the host's work.
 *
 * LP_NUM_THREADS=0 npx tsx bench/gpu/work.ts [--size 32] [--batch 2] [--reps 5]
 */
import * as tf from '@tensorflow/tfjs';
import { hasVulkanLoader } from '../../src/executor/backends/webgpu/adapter.ts';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { numberOption } from '../args.ts';
import { classifier } from './models.ts';
import { setUpWebgpu } from './setup.ts';
import { fmt, leastWork, msPerStep } from './timing.ts';

const size = numberOption('size', 32);
const batch = numberOption('batch', 2);
const reps = numberOption('reps', 5);
if (!hasVulkanLoader()) process.env.BENCH_SOFTWARE = '1';
const device = await setUpWebgpu();
console.log(`${device.adapter}${device.software ? ' (software)' : ''}; ${size} px, batch ${batch}; one trainOnBatch`);
console.log('| network, optimizer | tfjs: dispatches | uploads | host ms | ms a step | TL: dispatches | uploads | host ms | ms a step |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const name of ['resnet50', 'mobilenetv2'] as const) {
  for (const optimizer of ['sgd', 'adam'] as const) {
    const model = await classifier(name, size, 10);
    // As `tl run` trains: with TL's kernels each BatchNorm applies the ReLU after it.
    const fused = fuseActivationsForTraining(model, { padsIntoConvolutions: true });
    model.compile({ optimizer: optimizer === 'adam' ? tf.train.adam(1e-3) : tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
    const xs = tf.randomUniform([batch, size, size, 3]);
    const ys = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
    const train = async () => void (await model.trainOnBatch(xs, ys));
    const cells: string[] = [];
    for (const tl of [false, true]) {
      if (tl) registerWebgpuTrainingKernels();
      else unregisterWebgpuTrainingKernels();
      const ms = await msPerStep(train, 2, 1);
      const work = await leastWork(train, reps);
      cells.push(`${work.dispatches} | ${work.uploads} | ${fmt(work.hostMs, 0)} | ${fmt(ms, 0)}`);
    }
    console.log(`| ${name}, ${optimizer} | ${cells.join(' | ')} |`);
    fused.restore();
    tf.dispose([xs, ys]);
    model.dispose();
  }
}
