/**
 * Executor benchmarks (npm run bench): one table each for
 *   1. matmul GFLOP/s per tfjs backend beside numpy + OpenBLAS measured in the same run,
 *   2. training and inference images/s per backend for tiny and MobileNetV2 at 96 and 224 px,
 *   3. frozen-prefix caching: epoch time with and without it on the quickstart's fine-tuning phase.
 * OpenBLAS needs Debian's python3-numpy and libopenblas0-pthread (apt-get install -y python3-numpy libopenblas0-pthread).
 * BENCH_BACKENDS=wasm,cpu chooses backends; BENCH_QUICK=1 runs fewer repetitions.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { compile } from '../src/compile.ts';
import { selectBackend, type BackendName } from '../src/executor/backends/select.ts';
import { assemble } from '../src/executor/network.ts';
import { CACHE_BYTES } from '../src/executor/inputs.ts';
import { runPlan } from '../src/executor/run.ts';
import { buildBase } from '../src/executor/zoo/index.ts';

const root = join(import.meta.dirname, '..');
const backends = (process.env.BENCH_BACKENDS ?? 'wasm,cpu').split(',').filter(Boolean) as BackendName[];
const quick = process.env.BENCH_QUICK === '1';
/** A cell whose first step takes longer than this is measured on that one step only. */
const SLOW_STEP_S = 20;

function table(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

function plan(source: string) {
  const r = compile(source);
  if (!r.plan) throw new Error(r.diagnostics.map((d) => d.message).join('; '));
  return r.plan;
}

/** Seconds per call: one warm-up call, then repeats until `minSeconds` or the slow-step rule. */
async function time(fn: () => Promise<void>, minSeconds = quick ? 1 : 3): Promise<number> {
  const w = performance.now();
  await fn();
  const warm = (performance.now() - w) / 1000;
  if (warm > SLOW_STEP_S) return warm;
  let n = 0;
  const t = performance.now();
  while ((performance.now() - t) / 1000 < minSeconds || n < 2) {
    await fn();
    n++;
  }
  return (performance.now() - t) / 1000 / n;
}

async function matmul(n: number): Promise<number> {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const s = await time(async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  });
  tf.dispose([a, b]);
  return (2 * n ** 3) / s / 1e9;
}

function openblas(n: number, threads: number): string {
  const code = `import numpy as np, time\nn=${n}\na=np.random.rand(n,n).astype(np.float32); b=np.random.rand(n,n).astype(np.float32)\na@b\nt=time.perf_counter(); k=0\nwhile time.perf_counter()-t<2 or k<3:\n  a@b; k+=1\nprint(2*n**3/((time.perf_counter()-t)/k)/1e9)`;
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('/usr/bin/python3', ['-c', code], { env, encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()).toFixed(1) : 'numpy missing';
}

async function throughput(model: string, size: number, backend: string): Promise<string[]> {
  const p = plan(`use ${model} input ${size}${model === 'tiny' ? '' : ' weights imagenet'}`);
  const base = await buildBase(p.model, { baseDir: root });
  const net = assemble(base, p, 10);
  // Training MobileNetV2 at 224 px needs more than wasm's 4 GB heap above batch 4 (tfjs keeps every unfused intermediate for the gradient).
  const batch = model === 'mobilenetv2' && size >= 224 && backend === 'wasm' ? 4 : 32;
  const x = tf.randomUniform([batch, size, size, 3], -1, 1);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10).toFloat();
  const infer = await time(async () => {
    const out = net.full.predict(x) as tf.Tensor;
    await out.data();
    out.dispose();
  });
  const opt = tf.train.adam(1e-4);
  const vars = net.full.trainableWeights.map((w) => w.read() as tf.Variable);
  const train = await time(async () => {
    const loss = opt.minimize(() => tf.mean(tf.metrics.categoricalCrossentropy(y, net.full.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, true, vars);
    await loss!.data();
    loss!.dispose();
  });
  tf.dispose([x, y]);
  opt.dispose();
  net.full.dispose();
  return [backend, model, String(size), String(batch), (batch / infer).toFixed(1), (batch / train).toFixed(2), train > SLOW_STEP_S ? 'one step' : ''];
}

async function caching(cache: boolean): Promise<number> {
  const p = plan(`use mobilenetv2 input 96 cut block4\ndata "examples/data/fashion-mini/train" split 0.2\nepochs 0\nphase finetune unfreeze block4 lr 3e-4 epochs 1`);
  let seconds = 0;
  await runPlan(p, {
    baseDir: root, runDir: mkdtempSync(join(tmpdir(), 'tl-bench-')), backend: 'wasm', cacheBytes: cache ? CACHE_BYTES : 0,
    onEvent: (e) => { if (e.type === 'epochEnded') seconds = e.seconds; },
  });
  return seconds;
}

const matmulRows: string[][] = [];
const modelRows: string[][] = [];
for (const b of backends) {
  const choice = await selectBackend(b).catch((err: Error) => ({ name: b, reason: `unavailable: ${err.message}` }));
  if (choice.reason.startsWith('unavailable')) {
    matmulRows.push([b, '-', choice.reason]);
    continue;
  }
  for (const n of b === 'cpu' ? [256, 512] : [512, 1024]) matmulRows.push([`tfjs ${b}`, String(n), (await matmul(n)).toFixed(2)]);
  const cells: [string, number][] = b === 'cpu' ? [['tiny', 96]] : [['tiny', 96], ['tiny', 224], ['mobilenetv2', 96], ['mobilenetv2', 224]];
  for (const [model, size] of cells) modelRows.push(await throughput(model, size, b));
}
for (const n of [1024, 2048]) for (const t of [1, 2]) matmulRows.push([`numpy OpenBLAS, ${t} thread${t > 1 ? 's' : ''}`, String(n), openblas(n, t)]);

table('matmul, float32, n x n (GFLOP/s)', ['engine', 'n', 'GFLOP/s'], matmulRows);
table('images/s, 10 classes, every layer trainable (the cpu backend runs tiny only: a MobileNetV2 step takes minutes)', ['backend', 'model', 'px', 'batch', 'inference', 'training', 'note'], modelRows);
await selectBackend('wasm');
// Alternate and keep the best of each, so warm-up and a noisy neighbour do not decide the ratio.
const runs = quick ? 1 : 2;
let withCache = Infinity;
let without = Infinity;
for (let r = 0; r < runs; r++) {
  without = Math.min(without, await caching(false));
  withCache = Math.min(withCache, await caching(true));
}
table('frozen-prefix caching: quickstart fine-tuning epoch (MobileNetV2 96 px, block4 trains, 320 images, wasm)', ['caching', 'epoch s', 'speed-up'], [
  ['off', without.toFixed(1), '1.0x'],
  ['on', withCache.toFixed(1), `${(without / withCache).toFixed(1)}x`],
]);
console.log(`\nnode ${process.version}, ${new Date().toISOString().slice(0, 10)}, ${(await import('node:os')).cpus().length} cpus`);
