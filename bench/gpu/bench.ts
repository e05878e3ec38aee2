/**
 * The GPU benchmark (bundled by `npm run bench:gpu`, run on the GPU machine by run.sh): the parity
 * suite of TL's kernels against the cpu backend, matmul TFLOP/s, ResNet50 / MobileNetV2 inference
 * and training images/s beside PyTorch from the same run, the per-kernel table (tfjs's kernels
 * against TL's), and the elementwise diagnostics.
 *
 * node bench.mjs [--out FILE]
 *   BENCH_SECTIONS=parity,matmul,models,hostprofile,kernels,tiles,elementwise (default: all)
 *   BENCH_SMALL=1       small sizes, to check the bundle on the software adapter
 *   BENCH_SOFTWARE=1    Mesa llvmpipe through OpenGL instead of a GPU
 *   TL_DAWN_FLAGS=...   flags for Dawn's create(), space-separated
 *   TL_TFJS_FLAGS=...   tfjs flags, NAME=VALUE comma-separated
 *   TL_TORCH_DIR=DIR    where run.sh left the PyTorch references' output
 */
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { buffersFor, TILES, type TileName } from '../../src/executor/backends/webgpu/gemm.ts';
import { registerWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { diagnosticTable, elementwiseRows } from './elementwise.ts';
import { kernelRows, kernelTable, tileRows, tileTable } from './kernels.ts';
import { modelRow, type ModelRow } from './models.ts';
import { parityRows, parityTable } from './parity.ts';
import { hostProfile, hostProfileTables } from './profile.ts';
import { readTorch, stepProfileTable, summaryTable, tunedTable, workTable } from './report.ts';
import { setUpWebgpu } from './setup.ts';
import { fmt, msPerCall } from './timing.ts';

const small = process.env.BENCH_SMALL === '1';
const sections = new Set((process.env.BENCH_SECTIONS ?? 'parity,matmul,models,hostprofile,kernels,tiles,elementwise').split(','));
const outIndex = process.argv.indexOf('--out');
const outFile = outIndex > 0 ? process.argv[outIndex + 1] : undefined;

const device = await setUpWebgpu();
registerWebgpuTrainingKernels();
const started = new Date().toISOString();
console.log(`webgpu: ${device.adapter}${device.timestamps ? ' (timestamps)' : ''}; flags [${device.flags.join(' ')}]`);
const workgroupBytes = webgpuBackendOf(tf.backend()).device.limits.maxComputeWorkgroupStorageSize;
const doubled = (Object.keys(TILES) as TileName[]).filter((name) => buffersFor(TILES[name], workgroupBytes) === 2);
/** The report so far, rewritten after each section so that a run cut short still leaves its tables. */
function flush(): void {
  if (outFile) writeFileSync(outFile, parts.join('\n') + '\n');
}
const parts: string[] = [
  `## GPU benchmark run, ${started}`,
  '',
  `Adapter: ${device.adapter}${device.software ? ' (software)' : ''}. Node ${process.version}, tfjs ${tf.version.tfjs}, flags [${device.flags.join(' ')}]${small ? ', SMALL sizes' : ''}.`,
  `Workgroup memory: ${workgroupBytes} bytes; GEMM operand tiles that hold two steps there: ${doubled.join(', ') || 'none'}.`,
];

let parityFailures = 0;
if (sections.has('parity')) {
  console.log('parity against the cpu backend:');
  const rows = await parityRows();
  parityFailures = rows.reduce((a, r) => a + r.failed.length, 0);
  parts.push('', 'Parity of TL\'s kernels with the cpu backend (test/webgpu/cases):', '', parityTable(rows));
  flush();
}

let matmul: { n: number; tflops: number } | null = null;
if (sections.has('matmul')) {
  const n = small ? 256 : 4096;
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const ms = await msPerCall(() => tf.matMul(a, b), small ? 3 : 10);
  matmul = { n, tflops: (2 * n ** 3) / ms / 1e9 };
  console.log(`matmul ${n}: ${fmt(matmul.tflops)} TFLOP/s`);
  tf.dispose([a, b]);
}

const models: ModelRow[] = [];
const torchDir = process.env.TL_TORCH_DIR;
const torch = { resnet50: readTorch(torchDir, 'torch-resnet50.txt', 'TORCH'), mobilenetv2: readTorch(torchDir, 'torch-mnv2.txt', 'TORCH_MNV2') };
/** The throughput tables for the models measured so far. */
function modelTables(): string[] {
  const t = ['', 'Throughput (wall clock; training is a full trainOnBatch with SGD):', '', summaryTable(matmul, models, torch)];
  if (models.length > 0) t.push('', 'GPU work queued by one training step (programs dispatched; tensors uploaded from JavaScript):', '', workTable(models));
  if (models.length > 0) t.push('', 'GEMM products of one training step (then of the folded inference pass) as the tuner measured them before timing (ms per run on each option, by difference of chains; a tile with K split as the rule says, and "K whole" the fastest tile with K unsplit where a forward product splits; "/1" in the last column: K whole):', '', tunedTable(models));
  const timed = `each program timed alone by timestamp queries${device.timestamps ? '' : '; this adapter has none, so the times are zeros'}`;
  if (models.length > 0) t.push('', `Where one training step's GPU time goes, by program (one step under tf.time, ${timed}):`, '', stepProfileTable(models));
  if (models.length > 0) t.push('', `Where one inference batch's GPU time goes, BatchNorms folded (one batch under tf.time, ${timed}):`, '', stepProfileTable(models, 14, 'inference'));
  return t;
}
const beforeModels = parts.length;
if (sections.has('models')) {
  const o = small ? { size: 32, batch: 2, reps: 1, stockReps: 1 } : { size: 224, batch: 32, reps: 10, stockReps: 2 };
  for (const name of ['resnet50', 'mobilenetv2'] as const) {
    models.push(await modelRow(name, o));
    // Each network's tables as soon as it is measured, so a run cut short keeps the first.
    parts.splice(beforeModels, parts.length - beforeModels, ...modelTables());
    flush();
  }
}
parts.splice(beforeModels, parts.length - beforeModels, ...modelTables());
flush();

if (sections.has('hostprofile')) {
  console.log('host profile of the executor\'s training steps, as tl run runs them:');
  const o = small ? { size: 32, batch: 2, steps: 3 } : { size: 224, batch: 32, steps: 10 };
  const profiles = [];
  for (const name of ['mobilenetv2', 'resnet50'] as const) {
    profiles.push(await hostProfile(name, o, outFile === undefined ? undefined : dirname(outFile)));
    console.log(`  ${name}: ${fmt(profiles.at(-1)!.wallMs / o.steps)} ms a step under the profiler`);
  }
  parts.push('', 'Where the host\'s time goes in the executor\'s training steps as tl run runs them, replayed once recorded (node:inspector sampling profile, 100 us; self time; raw profiles host-*.cpuprofile beside this report):', hostProfileTables(profiles));
  flush();
}

if (sections.has('kernels')) {
  console.log('kernels (tfjs, then TL):');
  const rows = await kernelRows(small ? { batch: 2, shrink: 8 } : { batch: 32, shrink: 1 }, device.timestamps);
  parts.push('', 'Per kernel, batch ' + (small ? 2 : 32) + ': wall ms per call, calls chained and synchronised once; GPU ms from timestamp queries where the adapter has them.', '', kernelTable(rows));
  flush();
}
if (sections.has('tiles')) {
  console.log('GEMM tiles (TL\'s convolutions and their gradients, each tile forced):');
  const rows = await tileRows(small ? { batch: 2, shrink: 8 } : { batch: 32, shrink: 1 }, device.timestamps);
  const unit = device.timestamps ? 'GPU ms a call (timestamp queries)' : 'wall ms a call';
  parts.push('', `TL's convolution products with each GEMM tile forced, batch ${small ? 2 : 32}: ${unit}; "unmeasured takes" is the tile gemm.ts gives a product no tuning measured (the kernel table's TL rows run that, or the tuned choice where the networks' tuning measured the product), and that tile as it ran before two changes: with its operand tiles holding one step, as before session 19 (the other columns hold two where the device's workgroup memory allows), and with its warps covering 16 x 2 of its grid, as before session 20 (tiles 64 or more columns wide).`, '', tileTable(rows));
  flush();
}
if (sections.has('elementwise')) {
  const rows = await elementwiseRows(small ? [2, 7, 7, 256] : [32, 56, 56, 256], device.timestamps);
  parts.push('', 'Elementwise ops and per-op costs:', '', diagnosticTable(rows));
}

flush();
console.log(`\n${parts.join('\n')}\n`);
// The tuner's per-product measurements are in the report's table; the summary line keeps its counts.
const summary = models.map((m) => ({ ...m, tuned: { ...m.tuned, measured: undefined } }));
console.log(`RESULT ${JSON.stringify({ started, adapter: device.adapter, parityFailures, matmul, models: summary })}`);
if (parityFailures > 0) process.exitCode = 1;
