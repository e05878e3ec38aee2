/**
 * The wasm backend on 1 to N threads (TL_THREADS; src/executor/backends/wasm-threads.ts): kernels
 * the threads share (XNNPACK's convolutions and products), one depthwise convolution, and a whole
 * MobileNetV2 training step and inference batch at 96 px, batch 32, as `tl run` builds them. The
 * backend is chosen once per process, so each thread count runs in its own process, the counts
 * alternating for `--rounds` rounds; each cell is the median over the rounds of each round's median.
 *
 * Run: npm run bench:threads [-- --threads 1,2 --rounds 3]
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MAX_WASM_THREADS } from '../src/executor/backends/threads.ts';

type Timings = Record<string, number>;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Median ms of `runs` calls after two warm-up calls, each call's result read back. */
function time(f: () => tf.Tensor | tf.Tensor[], runs = 7): number {
  for (let i = 0; i < 2; i++) tf.dispose(f());
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const out = f();
    for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
    ms.push(performance.now() - start);
    tf.dispose(out);
  }
  return median(ms);
}

async function child(): Promise<void> {
  const { selectBackend } = await import('../src/executor/backends/select.ts');
  const { buildNetwork } = await import('../src/executor/zoo/networks.ts');
  const { fuseActivationsForTraining } = await import('../src/executor/fold-batchnorm.ts');
  await selectBackend('wasm');
  const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
  const x = tf.randomNormal([32, 24, 24, 96]) as tf.Tensor4D;
  const w3 = tf.randomNormal([3, 3, 96, 96]) as tf.Tensor4D;
  const w1 = tf.randomNormal([1, 1, 96, 192]) as tf.Tensor4D;
  const bias = tf.randomNormal([192]) as tf.Tensor1D;
  const dw = tf.randomNormal([3, 3, 96, 1]) as tf.Tensor4D;
  const a = tf.randomNormal([512, 1024]) as tf.Tensor2D;
  const b = tf.randomNormal([1024, 1024]) as tf.Tensor2D;
  const dy3 = tf.randomNormal([32, 24, 24, 96]) as tf.Tensor4D;
  const timings: Timings = {
    'conv 3x3 96->96, 32x24x24': time(() => tf.conv2d(x, w3, 1, 'same')),
    'conv 1x1 96->192 + bias, relu6': time(() => tf.fused.conv2d({ x, filter: w1, strides: 1, pad: 'same', bias, activation: 'relu6' })),
    'conv 3x3 filter gradient': time(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dy3 }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 96, 96] }) as tf.Tensor),
    'conv 3x3 input gradient': time(() => tf.conv2dTranspose(dy3, w3, [32, 24, 24, 96], 1, 'same')),
    'depthwise 3x3, 32x24x24x96': time(() => tf.depthwiseConv2d(x, dw, 1, 'same')),
    'matmul 512x1024x1024': time(() => tf.matMul(a, b)),
  };
  const base = await buildNetwork('mobilenetv2', 96);
  const pooled = tf.layers.globalAveragePooling2d({}).apply(base.outputs[0]!) as tf.SymbolicTensor;
  const output = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: base.inputs, outputs: output });
  const images = tf.randomUniform([32, 96, 96, 3]);
  const labels = tf.oneHot(tf.randomUniform([32], 0, 10, 'int32'), 10);
  timings['MobileNetV2 96 px inference, batch 32'] = time(() => model.predict(images) as tf.Tensor, 5);
  fuseActivationsForTraining(model);
  model.compile({ optimizer: tf.train.adam(1e-4), loss: 'categoricalCrossentropy' });
  const steps: number[] = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    await model.trainOnBatch(images, labels);
    if (i >= 2) steps.push(performance.now() - start);
  }
  timings['MobileNetV2 96 px training step, batch 32'] = median(steps);
  process.stdout.write(`${JSON.stringify({ threads: getThreadsCount(), timings })}\n`);
  process.exit(0);
}

function parent(): void {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const cores = availableParallelism();
  const counts = (option('--threads') ?? [...new Set([1, 2, 4, 8].filter((n) => n <= cores).concat(Math.min(cores, MAX_WASM_THREADS)))].join(','))
    .split(',').map(Number);
  const rounds = Number(option('--rounds') ?? 3);
  const results = new Map<number, Timings[]>(counts.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    for (const n of counts) {
      const run = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url), '--child'], {
        env: { ...process.env, TL_THREADS: String(n) }, encoding: 'utf8', maxBuffer: 1 << 24,
      });
      const line = run.stdout.trim().split('\n').pop() ?? '';
      if (run.status !== 0 || !line.startsWith('{')) throw new Error(`TL_THREADS=${n} failed: ${run.stderr.slice(-2000)}`);
      const report = JSON.parse(line) as { threads: number; timings: Timings };
      if (report.threads !== n) throw new Error(`asked for ${n} threads, the backend ran ${report.threads}`);
      results.get(n)!.push(report.timings);
      process.stderr.write(`round ${round + 1}/${rounds}, ${n} thread${n === 1 ? '' : 's'} done\n`);
    }
  }
  const rows = Object.keys(results.get(counts[0]!)![0]!);
  const cell = (n: number, row: string) => median(results.get(n)!.map((t) => t[row]!));
  console.log(`wasm backend, ms (median of ${rounds} rounds, each the median of its runs); speed-up against ${counts[0]} thread${counts[0] === 1 ? '' : 's'}`);
  console.log(`| what | ${counts.map((n) => `${n} thread${n === 1 ? '' : 's'}`).join(' | ')} |`);
  console.log(`| --- | ${counts.map(() => '---').join(' | ')} |`);
  for (const row of rows) {
    const first = cell(counts[0]!, row);
    console.log(`| ${row} | ${counts.map((n, i) => (i === 0 ? first.toFixed(1) : `${cell(n, row).toFixed(1)} (${(first / cell(n, row)).toFixed(2)}x)`)).join(' | ')} |`);
  }
  console.log(`node ${process.version}, ${new Date().toISOString().slice(0, 10)}, ${cores} cpus`);
}

if (process.argv.includes('--child')) await child();
else parent();
