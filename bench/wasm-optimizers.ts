/**
 * tfjs's optimizers on the wasm backend: each variable's update as tfjs's chain of elementwise ops
 * against TL's one WebAssembly pass (src/executor/backends/wasm-kernels/optimizers.ts), on every
 * trainable variable of a zoo network (default MobileNetV2 at 96 px: 156 variables, 2.2M values)
 * with fixed gradients, with and without weight decay. The two alternate in one process, 8 rounds,
 * the first 2 dropped.
 *
 * Run: npm run bench:optimizers [-- --model resnet50]
 */
import * as tf from '@tensorflow/tfjs';
import { registerFusedOptimizers, setWeightDecay, unregisterFusedOptimizers } from '../src/executor/backends/fused-optimizers.ts';
import { selectBackend } from '../src/executor/backends/select.ts';
import { wasmUpdater } from '../src/executor/backends/wasm-kernels/optimizers.ts';
import { buildNetwork } from '../src/executor/zoo/networks.ts';

const i = process.argv.indexOf('--model');
const modelName = i >= 0 ? process.argv[i + 1]! : 'mobilenetv2';
const choice = await selectBackend('wasm');
const model = await buildNetwork(modelName, 96);
const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
const grads = Object.fromEntries(vars.map((v) => [v.name, tf.randomNormal(v.shape, 0, 1e-3)]));
const makes: Record<string, () => tf.Optimizer> = {
  adam: () => tf.train.adam(1e-4),
  sgd: () => tf.train.sgd(1e-4),
  momentum: () => tf.train.momentum(1e-4, 0.9),
  rmsprop: () => tf.train.rmsprop(1e-4),
  // Weight decay: tfjs's path shrinks the weights by tfjs ops first; TL's does it in the same pass.
  'adam, weight decay 0.01': () => decaying(tf.train.adam(1e-4), 0.01),
  'sgd, weight decay 5e-4': () => decaying(tf.train.sgd(1e-4), 5e-4),
};
function decaying(optimizer: tf.Optimizer, decay: number): tf.Optimizer {
  setWeightDecay(optimizer, decay);
  return optimizer;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`${modelName}: ${vars.length} variables, ${vars.reduce((a, v) => a + v.size, 0).toLocaleString('en')} values; ${choice.reason}`);
console.log('| optimizer | tfjs ms | TL ms | speed-up |');
console.log('| --- | --- | --- | --- |');
for (const [name, make] of Object.entries(makes)) {
  const ms = { tfjs: [] as number[], tl: [] as number[] };
  const optimizers = { tfjs: make(), tl: make() };
  for (let round = 0; round < 8; round++) {
    for (const kind of ['tfjs', 'tl'] as const) {
      if (kind === 'tl') registerFusedOptimizers('wasm', wasmUpdater);
      else unregisterFusedOptimizers('wasm');
      const start = performance.now();
      optimizers[kind].applyGradients(grads);
      vars[0]!.dataSync();
      if (round >= 2) ms[kind].push(performance.now() - start);
    }
  }
  console.log(`| ${name} | ${median(ms.tfjs).toFixed(1)} | ${median(ms.tl).toFixed(1)} | ${(median(ms.tfjs) / median(ms.tl)).toFixed(1)}x |`);
}
registerFusedOptimizers('wasm', wasmUpdater);
console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
process.exit(0);
