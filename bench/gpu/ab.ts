/**
 * Host time of a training step with TL's kernels from two trees in one process: another checkout
 * (`--before`, e.g. the commit before a change) and this one, alternating blocks of steps so that
 * both see the same load on a shared machine. Both register under the same kernel names; each
 * block registers its tree's kernels and unregisters them after. Prints dispatches and the least
 * and median host ms a step of each (timing.ts `countWork`). On the software adapter run it with
 * LP_NUM_THREADS=0 (work.ts says why).
 *
 *   git worktree add /tmp/before HEAD~1 && ln -s "$PWD/node_modules" /tmp/before/node_modules
 *   LP_NUM_THREADS=0 npx tsx bench/gpu/ab.ts --before /tmp/before [--network resnet50] [--optimizer adam] [--blocks 6] [--steps 6]
 *
 * `--size 224 --batch 32 --dry` times the benchmark's full-size step with the queue's submit
 * dropped (as test/webgpu/full-size.webgpu.ts runs): nothing executes, so llvmpipe's hours become
 * the host's work alone, which is what this measures (values are garbage; a software adapter binds
 * at most 128 MiB, so MobileNetV2's widest bindings fail validation, silently here).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { hasVulkanLoader } from '../../src/executor/backends/webgpu/adapter.ts';
import * as current from '../../src/executor/backends/webgpu/index.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { numberOption, option } from '../args.ts';
import { classifier } from './models.ts';
import { setUpWebgpu } from './setup.ts';
import { countWork, fmt } from './timing.ts';

const beforeDir = option('before');
if (beforeDir === undefined) throw new Error('usage: ab.ts --before <checkout> [--network resnet50|mobilenetv2] [--optimizer sgd|adam] [--blocks 6] [--steps 6]');
const network = option('network', 'resnet50') as 'resnet50' | 'mobilenetv2';
const optimizer = option('optimizer', 'adam');
const blocks = numberOption('blocks', 6);
const steps = numberOption('steps', 6);
const size = numberOption('size', 32);
const batch = numberOption('batch', 2);
const dry = process.argv.includes('--dry');

type Kernels = Pick<typeof current, 'registerWebgpuTrainingKernels' | 'unregisterWebgpuTrainingKernels'>;
const treeModule = (file: string) => import(pathToFileURL(path.resolve(beforeDir, file)).href);
const before = (await treeModule('src/executor/backends/webgpu/index.ts')) as Kernels;
// Each tree keeps its own activation marks (fused-activation.ts): both mark the model.
const beforeFuse = ((await treeModule('src/executor/fold-batchnorm.ts').catch(() => ({}))) as { fuseActivationsForTraining?: typeof fuseActivationsForTraining }).fuseActivationsForTraining;

if (!hasVulkanLoader()) process.env.BENCH_SOFTWARE = '1';
const device = await setUpWebgpu();
if (dry) {
  const gpu = (tf.backend() as unknown as { device: GPUDevice }).device;
  gpu.queue.submit = () => {};
  gpu.onuncapturederror = () => {};
}
const model = await classifier(network, size, 10);
// As tl run trains (a tree from before activations were fused has nothing to mark).
fuseActivationsForTraining(model);
beforeFuse?.(model);
model.compile({ optimizer: optimizer === 'sgd' ? tf.train.sgd(1e-3) : tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
const xs = tf.randomUniform([batch, size, size, 3]);
const ys = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
const train = async () => void (await model.trainOnBatch(xs, ys));

const trees: [string, Kernels][] = [['before', before], ['after', current]];
const hostMs = new Map<string, number[]>(trees.map(([name]) => [name, []]));
const dispatches = new Map<string, number>();
for (let b = 0; b < blocks; b++) {
  for (const [name, kernels] of trees) {
    kernels.registerWebgpuTrainingKernels();
    await train();
    await train();
    for (let s = 0; s < steps; s++) {
      const work = await countWork(train);
      hostMs.get(name)!.push(work.hostMs);
      dispatches.set(name, work.dispatches);
    }
    kernels.unregisterWebgpuTrainingKernels();
  }
}
const sorted = (name: string) => [...hostMs.get(name)!].sort((p, q) => p - q);
console.log(`${device.adapter}${device.software ? ' (software)' : ''}; ${network}, ${optimizer}, ${size} px, batch ${batch}${dry ? ', dry' : ''}; ${blocks} blocks of ${steps} steps each`);
console.log('| tree | dispatches | least host ms | median host ms |');
console.log('| --- | --- | --- | --- |');
for (const [name] of trees) {
  const s = sorted(name);
  console.log(`| ${name} | ${dispatches.get(name)} | ${fmt(s[0], 1)} | ${fmt(s[s.length >> 1], 1)} |`);
}
