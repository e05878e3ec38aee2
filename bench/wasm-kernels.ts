/**
 * The wasm training kernels against the cpu backend: the filter gradient of a few convolutions,
 * then training steps of a small CNN at 32x32, batch 32. Run: npx tsx bench/wasm-kernels.ts
 * Prints wall time and this process's CPU time (the second is steadier on a shared machine).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../src/executor/backends/wasm-kernels.ts';

type Backend = 'wasm' | 'cpu';

interface Timing {
  wallMs: number;
  cpuMs: number;
}

/** Median over `runs` calls, after one warm-up call unless the backend has nothing to warm (cpu). */
async function measure(runs: number, f: () => Promise<void>, warmUp = true): Promise<Timing> {
  if (warmUp) await f();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    await f();
    walls.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1000);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  return { wallMs: median(walls), cpuMs: median(cpus) };
}

async function use(backend: Backend): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
}

const random = (shape: number[]) => tf.randomUniform(shape, -1, 1, 'float32', 1);

interface ConvShape {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number;
}

const convShapes: ConvShape[] = [
  { x: [32, 32, 32, 3], filter: [3, 3, 3, 16], strides: 1 },
  { x: [32, 32, 32, 16], filter: [3, 3, 16, 16], strides: 1 },
  { x: [32, 16, 16, 32], filter: [3, 3, 32, 32], strides: 1 },
  { x: [32, 16, 16, 32], filter: [3, 3, 32, 64], strides: 2 },
  { x: [32, 8, 8, 64], filter: [1, 1, 64, 128], strides: 1 },
];

async function filterGradTime(backend: Backend, c: ConvShape, runs: number): Promise<Timing> {
  await use(backend);
  const x = random(c.x);
  const dy = tf.tidy(() => random(tf.conv2d(x as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, 'same').shape));
  const attrs = { strides: c.strides, pad: 'same', dataFormat: 'NHWC', filterShape: c.filter };
  const t = await measure(
    runs,
    async () => {
      const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor;
      await dw.data();
      dw.dispose();
    },
    backend === 'wasm',
  );
  tf.dispose([x, dy]);
  return t;
}

/** Kernels the wasm backend ships and this module replaces for speed, on one shape each. */
const replaced: { label: string; inputs: number[][]; run: (xs: tf.Tensor[]) => tf.Tensor }[] = [
  {
    label: 'Conv2DBackpropInput dy 32x16x16x32, filter 3x3x16x32, stride 1',
    inputs: [[32, 16, 16, 32], [3, 3, 16, 32]],
    run: ([dy, w]) => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [32, 16, 16, 16], 1, 'same'),
  },
  {
    label: 'Conv2DBackpropInput dy 32x8x8x64, filter 3x3x32x64, stride 2',
    inputs: [[32, 8, 8, 64], [3, 3, 32, 64]],
    run: ([dy, w]) => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [32, 16, 16, 32], 2, 'same'),
  },
  { label: 'Tile 1x1x1x16 to 32x32x32x16 (batch-norm gradient)', inputs: [[1, 1, 1, 16]], run: ([x]) => tf.tile(x as tf.Tensor, [32, 32, 32, 1]) },
];

async function replacedTimes(): Promise<Timing[]> {
  const times: Timing[] = [];
  for (const r of replaced) {
    const xs = r.inputs.map(random);
    times.push(
      await measure(5, async () => {
        const out = r.run(xs);
        await out.data();
        out.dispose();
      }),
    );
    tf.dispose(xs);
  }
  return times;
}

/** conv-BN-relu6, max pool, depthwise-BN-relu6, 1x1 conv-BN-relu6, avg pool, strided conv, global pool, dense. */
function smallCnn(p: tf.NamedTensorMap, x: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  const bn = (h: tf.Tensor4D, i: number) => {
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    return tf.batchNorm(h, mean, variance, p[`beta${i}`] as tf.Tensor1D, p[`gamma${i}`] as tf.Tensor1D, 1e-3) as tf.Tensor4D;
  };
  let h = tf.relu6(bn(tf.conv2d(x, p.conv1 as tf.Tensor4D, 1, 'same'), 1));
  h = tf.maxPool(h, 2, 2, 'same');
  h = tf.relu6(bn(tf.depthwiseConv2d(h, p.depthwise as tf.Tensor4D, 1, 'same'), 2));
  h = tf.relu6(bn(tf.conv2d(h, p.pointwise as tf.Tensor4D, 1, 'same'), 3));
  h = tf.avgPool(h, 2, 2, 'same');
  h = tf.relu(tf.conv2d(h, p.conv2 as tf.Tensor4D, 2, 'same'));
  const logits = tf.add(tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, p.dense as tf.Tensor2D), p.bias as tf.Tensor);
  return tf.losses.softmaxCrossEntropy(labels, logits);
}

const cnnShapes: Record<string, number[]> = {
  conv1: [3, 3, 3, 16],
  gamma1: [16],
  beta1: [16],
  depthwise: [3, 3, 16, 1],
  gamma2: [16],
  beta2: [16],
  pointwise: [1, 1, 16, 32],
  gamma3: [32],
  beta3: [32],
  conv2: [3, 3, 32, 64],
  dense: [64, 10],
  bias: [10],
};

async function trainingRate(backend: Backend, steps: number, batch: number): Promise<Timing & { examplesPerSecond: number }> {
  await use(backend);
  const params: Record<string, tf.Variable> = {};
  for (const [name, shape] of Object.entries(cnnShapes)) {
    params[name] = tf.variable(name.startsWith('gamma') ? tf.ones(shape) : random(shape).mul(0.3));
  }
  const x = random([batch, 32, 32, 3]) as tf.Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Int32Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10).toFloat() as tf.Tensor2D;
  const optimizer = tf.train.sgd(0.05);
  const t = await measure(
    steps,
    async () => {
      const loss = optimizer.minimize(() => smallCnn(params, x, labels), true);
      await loss?.data();
      loss?.dispose();
    },
    backend === 'wasm',
  );
  optimizer.dispose();
  tf.dispose([x, labels, ...Object.values(params)]);
  return { ...t, examplesPerSecond: (batch * 1000) / t.wallMs };
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

async function main(): Promise<void> {
  await use('wasm');
  const shipped = await replacedTimes();
  registerWasmTrainingKernels();
  const ours = await replacedTimes();
  console.log('Kernels replaced for speed (median; wall ms / process CPU ms)');
  console.log('| kernel | shipped wasm | ours |');
  console.log('| --- | --- | --- |');
  replaced.forEach((r, i) => {
    const [a, b] = [shipped[i], ours[i]];
    if (a && b) console.log(`| ${r.label} | ${fmt(a.wallMs)} / ${fmt(a.cpuMs)} | ${fmt(b.wallMs)} / ${fmt(b.cpuMs)} |`);
  });

  console.log('\nConv2DBackpropFilter, "same" padding (median; wall ms / process CPU ms)');
  console.log('| x | filter | stride | wasm (ours) | cpu | speed-up |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const c of convShapes) {
    const wasm = await filterGradTime('wasm', c, 5);
    const cpu = await filterGradTime('cpu', c, 1);
    console.log(
      `| ${c.x.join('x')} | ${c.filter.join('x')} | ${c.strides} | ${fmt(wasm.wallMs)} / ${fmt(wasm.cpuMs)} | ${fmt(cpu.wallMs)} / ${fmt(cpu.cpuMs)} | ${(cpu.cpuMs / wasm.cpuMs).toFixed(0)}x |`,
    );
  }

  console.log('\nSmall CNN training step, 32x32x3, batch 32 (median step; wall ms / process CPU ms)');
  console.log('| backend | step | examples/s (wall) |');
  console.log('| --- | --- | --- |');
  const wasm = await trainingRate('wasm', 10, 32);
  console.log(`| wasm | ${fmt(wasm.wallMs)} / ${fmt(wasm.cpuMs)} | ${wasm.examplesPerSecond.toFixed(1)} |`);
  const cpu = await trainingRate('cpu', 1, 32);
  console.log(`| cpu | ${fmt(cpu.wallMs)} / ${fmt(cpu.cpuMs)} | ${cpu.examplesPerSecond.toFixed(2)} |`);
}

await main();
