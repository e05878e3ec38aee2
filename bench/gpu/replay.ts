/**
 * Host time of the executor's training step with its steps replayed (step-graph.ts) against every
 * step run as it is, in one process, alternating blocks of steps so both see the same load on a
 * shared machine. The loop is `tl run`'s own (models.ts executorLoop: batches from packed bytes,
 * flip + rotate 15, Adam, each step's loss read after the next is queued); with `--infer`, inference
 * batches as predictAll runs them (BatchNorms folded, batches from packed bytes, each read after
 * the next is queued). On the software adapter run it with LP_NUM_THREADS=0 and `--dry` (ab.ts
 * says why): nothing executes, so what is timed is the host's work alone.
 *
 *   LP_NUM_THREADS=0 npx tsx bench/gpu/replay.ts --network mobilenetv2 --size 224 --batch 32 --dry [--infer] [--blocks 6] [--steps 6]
 */
import * as tf from '@tensorflow/tfjs';
import { hasVulkanLoader } from '../../src/executor/backends/webgpu/adapter.ts';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { registerWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { stepGraphs } from '../../src/executor/backends/webgpu/step-graph.ts';
import { plainSteps, type StepRunner } from '../../src/executor/backends/steps.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { numberOption, option } from '../args.ts';
import { classifier, executorLoop, inferenceLoop } from './models.ts';
import { setUpWebgpu } from './setup.ts';
import { fmt } from './timing.ts';

const network = option('network', 'mobilenetv2') as 'resnet50' | 'mobilenetv2';
const blocks = numberOption('blocks', 6);
const steps = numberOption('steps', 6);
const size = numberOption('size', 32);
const batch = numberOption('batch', 2);
const dry = process.argv.includes('--dry');
const infer = process.argv.includes('--infer');

if (!hasVulkanLoader()) process.env.BENCH_SOFTWARE = '1';
const device = await setUpWebgpu();
registerWebgpuTrainingKernels();
if (dry) {
  const gpu = (tf.backend() as unknown as { device: GPUDevice }).device;
  gpu.queue.submit = () => {};
  gpu.onuncapturederror = () => {};
}
const classes = 10;
const model = await classifier(network, size, classes);
fuseActivationsForTraining(model, { padsIntoConvolutions: true });
const loop = infer ? inferenceLoop(model, network, { size, batch }) : executorLoop(model, network, classes, { size, batch });
const graphs = stepGraphs(webgpuBackendOf(tf.backend()));
if (graphs === undefined) throw new Error('no step graphs: TL\'s buffer pool is not installed');

const arms: [string, StepRunner][] = [['each run as it is', plainSteps], ['replayed', graphs]];
const ms = new Map<string, number[]>(arms.map(([name]) => [name, []]));
await loop.run(graphs, 6);
for (let b = 0; b < blocks; b++) {
  for (const [name, runner] of arms) {
    await loop.run(runner, 1);
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      await loop.run(runner, 1);
      ms.get(name)!.push(performance.now() - t0);
    }
  }
}
const { replayed, recorded, dropped, why, last } = graphs.stats;
console.log(`${device.adapter}${device.software ? ' (software)' : ''}; ${network}, ${infer ? 'inference, BatchNorms folded' : 'Adam, flip + rotate 15'}, ${size} px, batch ${batch}${dry ? ', dry' : ''}; ${blocks} blocks of ${steps} steps each`);
console.log(`step graphs: ${replayed} steps replayed, ${recorded} recorded, ${dropped} dropped${why ? `; last reason not to replay: ${why}` : ''}`);
if (last) console.log(`a replay: ${last.dispatches} dispatches, ${last.writes} writes, ${last.submits} submits`);
console.log(`| ${infer ? 'batches' : 'steps'} | least ms a ${infer ? 'batch' : 'step'} | median ms a ${infer ? 'batch' : 'step'} |`);
console.log('| --- | --- | --- |');
for (const [name] of arms) {
  const s = [...ms.get(name)!].sort((p, q) => p - q);
  console.log(`| ${name} | ${fmt(s[0], 1)} | ${fmt(s[s.length >> 1], 1)} |`);
}
graphs.dispose();
loop.dispose();
