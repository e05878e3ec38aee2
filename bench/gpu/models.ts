/**
 * Whole-network rows of the GPU benchmark: the executor's zoo networks (ResNet50 built by
 * src/executor/zoo/resnet50.ts, MobileNetV2 from the topology nsfwjs ships) with a pooled dense
 * head, batch 32 at 224 px, fp32, SGD: inference and training images/s with TL's kernels (their
 * GEMM tiles measured first, as `tl run` does on a GPU; inference with each BatchNorm folded into
 * its convolution, as TL's predictions run), and both with tfjs's own kernels; and the executor's
 * own training step as `tl run` takes it (train-step.ts, on batches made from packed images by
 * batches.ts, with flip and rotate 15 and Adam, the language's defaults for an augmented script),
 * pipelined as run.ts pipelines it.
 */
import * as tf from '@tensorflow/tfjs';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { trainingPass, tuneGemmTiles, type TuneResult } from '../../src/executor/backends/webgpu/tune.ts';
import { foldBatchNorms, fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { compile } from '../../src/compile.ts';
import { createRng } from '../../src/executor/augment/index.ts';
import { imageBatch } from '../../src/executor/batches.ts';
import type { ImageSet } from '../../src/executor/data/index.ts';
// pixels.ts itself: the data index also exports the loaders, which need sharp, a native module the bundle cannot hold.
import { Pixels } from '../../src/executor/data/pixels.ts';
import { createOptimizer } from '../../src/executor/optimizers.ts';
import { runStep } from '../../src/executor/train-step.ts';
import { plainSteps, type StepOutput, type StepRunner } from '../../src/executor/backends/steps.ts';
import { stepGraphs } from '../../src/executor/backends/webgpu/step-graph.ts';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { buildNetwork, preprocessOf } from '../../src/executor/zoo/networks.ts';
import { fmt, leastWork, msPerStep, pipelined, sync, type Work } from './timing.ts';
import { choices } from './report.ts';

export interface ModelRow {
  readonly model: 'resnet50' | 'mobilenetv2';
  readonly size: number;
  readonly batch: number;
  /** Inference, each batch's scores read before the next batch is queued. */
  readonly inferMs: number;
  /** Inference as TL's predictions run it (predictAll): batches made from bytes, each read after the next is queued, replayed once recorded. */
  readonly pipelinedInferMs: number;
  /** The model's own predict on one batch, each read after the next is queued, each run as it is. */
  readonly pipelinedPlainInferMs: number;
  readonly trainMs: number;
  /** Training steps queued back to back, each loss read after the next step is queued (as the executor's loop does). */
  readonly pipelinedTrainMs: number;
  /** The executor's own step (images, augmentation, Adam, metrics), pipelined as run.ts runs it: replayed once recorded. */
  readonly executorStepMs: number;
  /** The same with every step run as it is (TL_STEP_REPLAY=0). */
  readonly executorPlainStepMs: number;
  /** Inference and the training step with tfjs's own kernels and gradients, when measured. */
  readonly stockInferMs: number | null;
  readonly stockTrainMs: number | null;
  /** What one training step queues, with TL's kernels and with tfjs's own. */
  readonly trainWork: Work;
  readonly stockTrainWork: Work | null;
  /** What one inference batch queues, with TL's kernels (BatchNorms folded) and with tfjs's own. */
  readonly inferWork: Work;
  readonly stockInferWork: Work | null;
  /** The GEMM tiles measured before timing, as `tl run` does on a GPU: the training pass's, then the folded inference pass's. */
  readonly tuned: TuneResult;
  readonly tunedInference: TuneResult;
  /** GPU time of one training step (the pipelined one) by program, from timestamp queries: zeros where the adapter has none. */
  readonly stepProfile: readonly ProgramTime[];
  /** The same for one inference batch, its BatchNorms folded. */
  readonly inferProfile: readonly ProgramTime[];
}

/** One program's share of a step: how many times it ran and its GPU ms in all. */
export interface ProgramTime {
  readonly program: string;
  readonly runs: number;
  readonly ms: number;
}

/**
 * Runs `step` once under tf.time, which on webgpu gives every program its own pass with timestamp
 * queries (so this step runs slower than the timed ones), and sums the GPU ms by program: tfjs's
 * programs by class, except TL's GEMM, named by what it computes (its source: the forward
 * convolution, the filter or the input gradient; either tile), and TL's multi-output programs by
 * key.
 */
async function stepProfile(step: () => tf.Tensor): Promise<ProgramTime[]> {
  // tfjs names a timed program by its class; the GEMM's shader key says which product it is.
  // Programs are timed in the order they are dispatched, so the keys recorded here line up.
  const backend = tf.backend() as unknown as { runWebGPUProgram: (program: { constructor: { name: string }; shaderKey: string }, ...rest: unknown[]) => unknown };
  const run = backend.runWebGPUProgram;
  const gemms: string[] = [];
  backend.runWebGPUProgram = function (program, ...rest) {
    if (program.constructor.name === 'GemmProgram') gemms.push(`GEMM ${program.shaderKey.replace(/^tlGemm\d+(Sums)?_/, '')}`);
    return run.call(this, program, ...rest);
  };
  let loss: tf.Tensor | undefined;
  let info: tf.TimingInfo & { getExtraProfileInfo?: () => string };
  try {
    info = await tf.time(() => {
      loss = step();
    });
  } finally {
    backend.runWebGPUProgram = run;
  }
  await loss?.data();
  loss?.dispose();
  const byProgram = new Map<string, { runs: number; ms: number }>();
  for (const entry of (info.getExtraProfileInfo?.() ?? '').split(', ')) {
    const at = entry.lastIndexOf(': ');
    if (at < 0) continue;
    const name = entry.slice(0, at);
    const program = name === 'GemmProgram' ? (gemms.shift() ?? name) : name;
    const total = byProgram.get(program) ?? { runs: 0, ms: 0 };
    byProgram.set(program, { runs: total.runs + 1, ms: total.ms + (Number(entry.slice(at + 2)) || 0) });
  }
  return [...byProgram].map(([program, t]) => ({ program, ...t })).sort((a, b) => b.ms - a.ms || b.runs - a.runs);
}

/**
 * The executor's training loop on `model`, as `tl run` trains an augmented script (`augment flip,
 * rotate 15`, Adam): each step makes its batch from packed bytes (imageBatch), augments it, steps
 * (runStep, with the given runner: run.ts's records and replays on webgpu), and reads the step
 * before's loss and hits. `run(steps, n)` runs n steps; `dispose` drops the optimizer.
 */
export function executorLoop(model: tf.LayersModel, name: ModelRow['model'], classes: number, o: Pick<ModelOptions, 'size' | 'batch'>): { run(steps: StepRunner, n: number): Promise<void>; dispose(): void } {
  const { plan } = compile(`use ${name} input ${o.size}\ndata "images"\naugment flip, rotate 15\nbatch ${o.batch}\n`);
  if (plan === undefined) throw new Error('the benchmark\'s script did not compile');
  const count = 2 * o.batch;
  const set: ImageSet = {
    images: Pixels.from(Uint8Array.from({ length: count * o.size * o.size * 3 }, (_, i) => (i * 2654435761) >>> 24), o.size * o.size * 3),
    labels: Int32Array.from({ length: count }, (_, i) => i % classes),
    count,
    size: o.size,
    sources: [],
  };
  const preprocess = preprocessOf(name);
  const inputs = { model, cachedAt: null, batch: (_set: string, idx: Int32Array) => imageBatch(set, idx, preprocess), dispose() {} };
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = createOptimizer(plan.phases[0]!.optimizer, 1e-4);
  const optimizers = [{ group: { variables }, optimizer }];
  const rng = createRng(plan.seed);
  let i = 0;
  return {
    async run(steps, n) {
      let pending: StepOutput | null = null;
      for (let k = 0; k < n; k++, i++) {
        const idx = Int32Array.from({ length: o.batch }, (_, j) => (i * o.batch + j) % count);
        const { output } = runStep(steps, true, { model, inputs, set, idx, classes, plan, rng, preprocess, optimizers, adapt: null });
        if (pending) await pending.read();
        pending = output;
      }
      if (pending) await pending.read();
    },
    dispose: () => optimizer.dispose(),
  };
}

/**
 * Inference batches of `model` as predictAll runs them (src/executor/batches.ts): BatchNorms
 * folded, each batch made from packed bytes (imageBatch), run by the given runner (replayed once
 * recorded, on webgpu) and read after the next is queued. `dispose` puts the BatchNorms back.
 */
export function inferenceLoop(model: tf.LayersModel, name: ModelRow['model'], o: Pick<ModelOptions, 'size' | 'batch'>): { run(steps: StepRunner, n: number): Promise<void>; dispose(): void } {
  const images = Uint8Array.from({ length: o.batch * o.size * o.size * 3 }, (_, i) => (i * 2654435761) >>> 24);
  const set: ImageSet = { images: Pixels.from(images, o.size * o.size * 3), labels: new Int32Array(o.batch), count: o.batch, size: o.size, sources: [] };
  const preprocess = preprocessOf(name);
  const idx = Int32Array.from({ length: o.batch }, (_, j) => j);
  const folded = foldBatchNorms(model);
  return {
    async run(steps, n) {
      let pending: StepOutput | null = null;
      for (let k = 0; k < n; k++) {
        const x = imageBatch(set, idx, preprocess);
        const output = steps.run(`predict ${o.batch}`, [x], () => tf.tidy(() => model.apply(x, { training: false }) as tf.Tensor));
        x.dispose();
        if (pending) await pending.read();
        pending = output;
      }
      if (pending) await pending.read();
    },
    dispose: () => folded.restore(),
  };
}

/** Milliseconds a step of the executor's loop (executorLoop) with `steps`, past its warm-up and recording. */
async function executorStepMs(model: tf.LayersModel, name: ModelRow['model'], classes: number, o: ModelOptions, steps: StepRunner): Promise<number> {
  const loop = executorLoop(model, name, classes, o);
  // Past the warm-up and the recorded steps (two alike, after the pool settles), where steps are replayed.
  await loop.run(steps, 8);
  const t0 = performance.now();
  await loop.run(steps, o.reps);
  const ms = (performance.now() - t0) / o.reps;
  steps.dispose();
  loop.dispose();
  return ms;
}

/** One SGD training step of `model` on `xs`, `ys` as the benchmark times it, returning its loss. */
export function sgdStep(model: tf.LayersModel, xs: tf.Tensor, ys: tf.Tensor, optimizer: tf.Optimizer): () => tf.Scalar {
  const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.metrics.categoricalCrossentropy(ys, model.apply(xs, { training: true }) as tf.Tensor)) as tf.Scalar, weights);
      optimizer.applyGradients(grads);
      return value;
    });
}

/** Reads a whole (small) result back: a step's loss. */
export const readAll = (t: tf.Tensor): Promise<unknown> => t.data();

export async function classifier(name: ModelRow['model'], size: number, classes: number): Promise<tf.LayersModel> {
  const base = await buildNetwork(name, size);
  const pooled = tf.layers.globalAveragePooling2d({}).apply(base.outputs[0] as tf.SymbolicTensor) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: classes, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: base.inputs, outputs: out });
}

export interface ModelOptions { readonly size: number; readonly batch: number; readonly reps: number; readonly stockReps: number }

export async function modelRow(name: ModelRow['model'], o: ModelOptions): Promise<ModelRow> {
  const classes = name === 'resnet50' ? 10 : 5;
  const model = await classifier(name, o.size, classes);
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  const xs = tf.randomUniform([o.batch, o.size, o.size, 3]);
  const ys = tf.oneHot(tf.randomUniform([o.batch], 0, classes, 'int32'), classes);
  const infer = async () => {
    const p = model.predict(xs) as tf.Tensor;
    await sync(p);
    p.dispose();
  };
  // Each batch read after the next is queued, each run as it is.
  const inferPipelined = (n: number) => pipelined(() => model.predict(xs) as tf.Tensor, n, sync);
  // trainOnBatch reads the loss back, which waits for the step.
  const train = async () => void (await model.trainOnBatch(xs, ys));
  // The executor's loop (run.ts) reads a step's loss after queuing the next step, so that the host
  // builds step b + 1 while the GPU runs step b: the same step, timed that way.
  const optimizer = tf.train.sgd(0.01);
  const step = sgdStep(model, xs, ys, optimizer);
  const trainPipelined = (n: number) => pipelined(step, n, readAll);
  registerWebgpuTrainingKernels();
  // As `tl run` trains: each BatchNorm applies the ReLU after it (tfjs's kernels below ignore this).
  const fused = fuseActivationsForTraining(model, { padsIntoConvolutions: true });
  const tuned = await tuneGemmTiles(trainingPass(model, o.batch));
  console.log(`  ${name}: GEMM tiles measured for ${tuned.products} products in ${fmt(tuned.ms / 1000, 1)} s: they run on ${choices(tuned)}, ${tuned.changed} differ from the tile by shape`);
  const folded = foldBatchNorms(model);
  const tunedInference = await tuneGemmTiles(() => [model.predict(xs) as tf.Tensor]);
  const inferMs = await msPerStep(infer, o.reps);
  await inferPipelined(2);
  const i0 = performance.now();
  await inferPipelined(o.reps);
  const pipelinedPlainInferMs = (performance.now() - i0) / o.reps;
  const inferWork = await leastWork(infer, 3);
  const inferProfile = await stepProfile(() => model.predict(xs) as tf.Tensor);
  folded.restore();
  console.log(`  ${name}: ${folded.chains.length} BatchNorms folded for inference (${inferWork.dispatches} dispatches); ${tunedInference.products} more products measured`);
  // As predictAll (src/executor/batches.ts) runs TL's predictions: batches made from bytes, replayed once recorded.
  const inferGraphs = stepGraphs(webgpuBackendOf(tf.backend()));
  const inference = inferenceLoop(model, name, o);
  await inference.run(inferGraphs ?? plainSteps, 8);
  const p0 = performance.now();
  await inference.run(inferGraphs ?? plainSteps, o.reps);
  const pipelinedInferMs = (performance.now() - p0) / o.reps;
  inference.dispose();
  inferGraphs?.dispose();
  console.log(`  ${name}: inference as predictAll runs it ${fmt(pipelinedInferMs)} ms a batch (${inferGraphs ? `${inferGraphs.stats.replayed} replayed` : 'no step graphs'}), pipelined with each batch run as it is ${fmt(pipelinedPlainInferMs)} ms`);
  const trainMs = await msPerStep(train, o.reps);
  await trainPipelined(2);
  const t0 = performance.now();
  await trainPipelined(o.reps);
  const pipelinedTrainMs = (performance.now() - t0) / o.reps;
  const profile = await stepProfile(step);
  optimizer.dispose();
  const graphs = stepGraphs(webgpuBackendOf(tf.backend()));
  const executorMs = await executorStepMs(model, name, classes, o, graphs ?? plainSteps);
  const executorPlainMs = await executorStepMs(model, name, classes, o, plainSteps);
  const replays = graphs === undefined ? 'no step graphs' : `${graphs.stats.replayed} replayed, ${graphs.stats.recorded} recorded${graphs.stats.why ? `; last reason not to: ${graphs.stats.why}` : ''}`;
  console.log(`  ${name}: the executor's step (augmented, Adam) ${fmt(executorMs)} ms (${replays}), each step run as it is ${fmt(executorPlainMs)} ms`);
  const trainWork = await leastWork(train, 3);
  console.log(`  ${name}: inference ${fmt(inferMs)} ms, training ${fmt(trainMs)} ms a batch, pipelined ${fmt(pipelinedTrainMs)} ms (${trainWork.dispatches} dispatches, ${trainWork.uploads} uploads, host ${fmt(trainWork.hostMs)} ms + ${fmt(trainWork.submitMs)} ms in submits)`);
  let stockInferMs: number | null = null;
  let stockTrainMs: number | null = null;
  let stockTrainWork: Work | null = null;
  let stockInferWork: Work | null = null;
  if (o.stockReps > 0) {
    unregisterWebgpuTrainingKernels();
    stockInferMs = await msPerStep(infer, o.reps);
    stockInferWork = await leastWork(infer, 1);
    console.log(`  ${name}: inference with tfjs's kernels ${fmt(stockInferMs)} ms`);
    stockTrainMs = await msPerStep(train, o.stockReps, 1);
    stockTrainWork = await leastWork(train, 1);
    registerWebgpuTrainingKernels();
    console.log(`  ${name}: training with tfjs's kernels ${fmt(stockTrainMs)} ms a batch (${stockTrainWork.dispatches} dispatches, ${stockTrainWork.uploads} uploads, host ${fmt(stockTrainWork.hostMs)} ms + ${fmt(stockTrainWork.submitMs)} ms in submits)`);
  }
  fused.restore();
  tf.dispose([xs, ys]);
  model.dispose();
  return { model: name, size: o.size, batch: o.batch, inferMs, pipelinedInferMs, pipelinedPlainInferMs, trainMs, pipelinedTrainMs, executorStepMs: executorMs, executorPlainStepMs: executorPlainMs, stockInferMs, stockTrainMs, trainWork, stockTrainWork, inferWork, stockInferWork, tuned, tunedInference, stepProfile: profile, inferProfile };
}
