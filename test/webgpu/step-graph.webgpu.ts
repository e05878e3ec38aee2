/**
 * Recorded training steps replayed (step-graph.ts): a small convnet with every kind of layer TL's
 * kernels serve (strided and 1x1 convolutions, depthwise, training-mode BatchNorm with its ReLU,
 * pooling, a dense softmax), trained on a new batch each step, once with its steps replayed and
 * once with every step run as it is. Replaying queues the same commands on the same buffers, so
 * the two must agree bit for bit: losses, weights, moving averages and optimizer state. And what a
 * caller may do between steps (read the weights, clone them, run other work, change the learning
 * rate) must never be replayed over.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { setWeightDecay } from '../../src/executor/backends/fused-optimizers.ts';
import { plainSteps, type StepRunner } from '../../src/executor/backends/steps.ts';
import { clipGradients } from '../../src/executor/train-step.ts';
import type { Clip } from '../../src/plan/schema.ts';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { bufferPins } from '../../src/executor/backends/webgpu/buffer-pool.ts';
import { stepGraphs, type StepGraphs } from '../../src/executor/backends/webgpu/step-graph.ts';
import { batchNormLayers, writeBatchNorm } from '../../src/executor/batch-norm-stats.ts';
import { predictAll } from '../../src/executor/batches.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { countStep, setLearningRate } from '../../src/executor/optimizers.ts';
import { values } from './parity.ts';
import { smallConvnet } from './convnet.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

const OPTIMIZERS = {
  sgd: (lr: number) => tf.train.sgd(lr),
  adam: (lr: number) => tf.train.adam(lr / 10),
  momentum: (lr: number) => tf.train.momentum(lr / 2, 0.9),
  rmsprop: (lr: number) => tf.train.rmsprop(lr / 10, 0.9, 0.5, 1e-7),
  // Adam with TL's weight decay: the decayed weights' updates are packs of their own.
  adamw: (lr: number) => {
    const optimizer = tf.train.adam(lr / 10);
    setWeightDecay(optimizer, 0.3);
    return optimizer;
  },
} as const;

const BATCH = 6;

interface Options {
  readonly optimizer?: keyof typeof OPTIMIZERS;
  readonly steps?: number;
  /** The learning rate at step i (the key holds it unless `sameKey`). */
  readonly lr?: (i: number) => number;
  readonly sameKey?: boolean;
  /** A Dropout layer of this rate before the head. */
  readonly dropout?: number;
  /** Freezes the first convolution (the graph then only reads its kernel). */
  readonly frozenFirst?: boolean;
  /** The gradients clipped as `clip norm|value` clips them (train-step.ts). */
  readonly clip?: Clip;
  /** What the caller does after step i is queued, before it is read. */
  readonly between?: (i: number, m: tf.LayersModel, kept: tf.Tensor[]) => Promise<void> | void;
}

interface Trained {
  readonly losses: number[];
  readonly hits: number[];
  /** Each step's gradient norm before clipping, where it clips by norm. */
  readonly norms: number[];
  /** Every weight of the model (moving averages too), then the optimizer's state. */
  readonly weights: Float32Array[];
  readonly tensors: number[];
  /** The values of what `between` kept. */
  readonly kept: Float32Array[];
}

/** Trains the convnet for `steps` steps, a new batch each, through `steps`' runner, as run.ts does. */
async function train(runner: StepRunner, o: Options = {}): Promise<Trained> {
  const m = smallConvnet(o.dropout);
  fuseActivationsForTraining(m);
  m.setWeights(m.getWeights().map((w, i) => tf.tensor(values(w.shape, 500 + i), w.shape).mul(0.5)));
  if (o.frozenFirst) m.layers[1]!.trainable = false;
  const lrAt = o.lr ?? (() => 0.1);
  const opt = OPTIMIZERS[o.optimizer ?? 'sgd'](lrAt(0));
  const variables = m.trainableWeights.map((w) => w.read() as tf.Variable);
  const kept: tf.Tensor[] = [];
  const outputs = [];
  const tensors: number[] = [];
  for (let i = 0; i < (o.steps ?? 8); i++) {
    const lr = lrAt(i);
    if (i === 0 || lr !== lrAt(i - 1)) setLearningRate(opt, lr);
    const x = tf.tensor(values([BATCH, 12, 12, 3], 10 + i), [BATCH, 12, 12, 3]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, j) => (i + j) % 4), 'int32'), 4).toFloat() as tf.Tensor2D);
    const key = o.sameKey ? 'step' : `step ${lr}`;
    outputs.push(
      runner.run(key, [x, y], () =>
        tf.tidy(() => {
          let predictions: tf.Tensor | undefined;
          const { value, grads: raw } = tf.variableGrads(() => {
            predictions = tf.keep(m.apply(x, { training: true }) as tf.Tensor);
            return tf.mean(tf.metrics.categoricalCrossentropy(y, predictions)) as tf.Scalar;
          }, variables);
          const { grads, norm } = clipGradients(raw, o.clip ?? null);
          opt.applyGradients(grads as never);
          const hits = tf.sum(tf.equal(tf.argMax(predictions!, -1), tf.argMax(y, -1)).toFloat());
          predictions!.dispose();
          return tf.stack([value, hits, ...(norm ? [norm] : [])]);
        }),
        () => countStep(opt),
      ),
    );
    tf.dispose([x, y]);
    await o.between?.(i, m, kept);
    tensors.push(tf.memory().numTensors);
  }
  const read = await Promise.all(outputs.map((out) => out.read()));
  const weights = await Promise.all([...m.getWeights(), ...(await opt.getWeights()).map((w) => w.tensor)].map(async (w) => (await w.data()) as Float32Array));
  const keptValues = await Promise.all(kept.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(kept);
  runner.dispose();
  m.dispose();
  opt.dispose();
  return { losses: read.map((r) => r[0]!), hits: read.map((r) => r[1]!), norms: read.flatMap((r) => (r.length > 2 ? [r[2]!] : [])), weights, tensors, kept: keptValues };
}

/**
 * `steps` steps of `body` on a new input of `shape` each (seeded from `seed`), each read at once,
 * through `runner`, which is disposed after; `after` runs after step i. Returns what each read.
 */
async function small(
  runner: StepRunner,
  o: { shape: number[]; seed: number; steps?: number; body: (x: tf.Tensor, i: number) => tf.Tensor; after?: (i: number) => void; key?: (i: number) => string | null },
): Promise<Float32Array[]> {
  const read = [];
  for (let i = 0; i < (o.steps ?? 8); i++) {
    const x = tf.tensor(values(o.shape, o.seed + i), o.shape);
    read.push(await runner.run(o.key ? o.key(i) : 'k', [x], () => tf.tidy(() => o.body(x, i))).read());
    x.dispose();
    o.after?.(i);
  }
  runner.dispose();
  return read;
}

function graphs(): StepGraphs {
  const g = stepGraphs(webgpuBackendOf(tf.backend()));
  if (g === undefined) throw new Error('no step graphs: TL\'s buffer pool is not installed');
  return g;
}

/** Both runs' results equal to the bit. */
function expectSame(replayed: Trained, plain: Trained): void {
  expect(replayed.losses).toEqual(plain.losses);
  expect(replayed.hits).toEqual(plain.hits);
  expect(replayed.norms).toEqual(plain.norms);
  expect(replayed.weights).toHaveLength(plain.weights.length);
  replayed.weights.forEach((w, i) => expect(w, `weight ${i}`).toEqual(plain.weights[i]));
  expect(replayed.kept).toEqual(plain.kept);
}

describe.skipIf(!env.ok)(`training steps recorded and replayed on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each(['sgd', 'adam', 'momentum', 'rmsprop', 'adamw'] as const)('replays %s steps on new batches to the same bits as running them', async (optimizer) => {
    const g = graphs();
    const replayed = await train(g, { optimizer });
    const plain = await train(plainSteps, { optimizer });
    // Two steps of warm-up, then recorded until two are alike (the pool settles meanwhile), then replayed.
    expect(g.stats).toMatchObject({ ran: 2, graphs: 1, dropped: 0 });
    expect(g.stats.replayed).toBeGreaterThanOrEqual(3);
    expect(g.stats.recorded + g.stats.replayed).toBe(6);
    expectSame(replayed, plain);
    // The losses move: each replay ran on its own batch and its own weights.
    expect(new Set(replayed.losses.slice(5)).size).toBe(3);
    // A replay makes no tensors.
    expect(replayed.tensors.at(-1)).toBe(replayed.tensors[3]);
  });

  it.each([{ mode: 'norm', max: 0.05 }, { mode: 'value', max: 0.002 }] as const)('replays steps with their gradients clipped by $mode to the same bits as running them', async (clip) => {
    const g = graphs();
    const replayed = await train(g, { optimizer: 'momentum', clip });
    const plain = await train(plainSteps, { optimizer: 'momentum', clip });
    expect(g.stats.replayed).toBeGreaterThanOrEqual(3);
    expectSame(replayed, plain);
    // The clip bit: by norm, every step's norm was above max; either way the weights differ from an unclipped run's.
    if (clip.mode === 'norm') expect(Math.min(...replayed.norms)).toBeGreaterThan(clip.max);
    const unclipped = await train(plainSteps, { optimizer: 'momentum' });
    expect(replayed.weights.some((w, i) => w.some((v, k) => v !== unclipped.weights[i]![k]))).toBe(true);
  });

  it('replays steps with dropout, each drawing a new mask on the GPU, to the same bits as running them', async () => {
    const g = graphs();
    const replayed = await train(g, { optimizer: 'adam', dropout: 0.4 });
    expect(g.stats.replayed).toBeGreaterThanOrEqual(3);
    expectSame(replayed, await train(plainSteps, { optimizer: 'adam', dropout: 0.4 }));
  });

  it('drops a graph when a variable it writes is shared or was reassigned, and replays nothing over them', async () => {
    const firstWeight = async (m: tf.LayersModel) => {
      const w = m.trainableWeights[0]!.read();
      return tf.tensor(await w.data(), w.shape);
    };
    const between = async (i: number, m: tf.LayersModel, kept: tf.Tensor[]) => {
      // A read caches the values on the CPU: the next replay must drop them, or the read after it
      // would see the old values.
      if (i === 4 || i === 5) kept.push(await firstWeight(m));
      // Early stopping keeps the best weights as clones, sharing the variables' buffers.
      if (i === 5) kept.push(...m.trainableWeights.map((w) => w.read().clone()));
      // A restored checkpoint gives a variable new data.
      if (i === 11) m.trainableWeights[1]!.write(tf.onesLike(m.trainableWeights[1]!.read()));
    };
    const g = graphs();
    const replayed = await train(g, { optimizer: 'adam', steps: 16, between });
    const plain = await train(plainSteps, { optimizer: 'adam', steps: 16, between });
    // Replayed before the clones, dropped at the step after them, recorded again, replayed, and
    // dropped again after the write, recorded and replayed again.
    expect(g.stats).toMatchObject({ dropped: 2, graphs: 3 });
    expectSame(replayed, plain);
  });

  it('drops a graph when a weight it only reads gets new data, shared or not', async () => {
    const kernel = (seed: number) => tf.tidy(() => tf.tensor(values([3, 3, 3, 8], seed), [3, 3, 3, 8]));
    const between = (i: number, m: tf.LayersModel, kept: tf.Tensor[]) => {
      // The old data released: the graph hears of it from the pool.
      if (i === 4) m.layers[1]!.setWeights([kernel(77)]);
      // The old data kept by a clone, so nothing is released: only the data id tells.
      if (i === 9) {
        kept.push(m.layers[1]!.getWeights()[0]!.clone());
        m.layers[1]!.setWeights([kernel(78)]);
      }
    };
    const g = graphs();
    const replayed = await train(g, { frozenFirst: true, steps: 14, between });
    expect(g.stats).toMatchObject({ dropped: 2, graphs: 3 });
    expectSame(replayed, await train(plainSteps, { frozenFirst: true, steps: 14, between }));
  });

  it('drops a graph when a tensor it reads that is no variable is disposed', async () => {
    // As a fold's cached weights or an optimizer's constants: a tensor the step reads, replaced.
    let scale = tf.keep(tf.scalar(2));
    const run = async (runner: StepRunner) => {
      scale = tf.keep(tf.scalar(2));
      const replace = (i: number) => {
        if (i !== 5) return;
        scale.dispose();
        scale = tf.keep(tf.scalar(3));
      };
      const read = await small(runner, { shape: [16], seed: 50, steps: 10, body: (x) => tf.stack([tf.sum(x.mul(scale)), tf.max(x)]), after: replace });
      scale.dispose();
      return read;
    };
    const g = graphs();
    const replayed = await run(g);
    expect(g.stats).toMatchObject({ dropped: 1 });
    expect(replayed).toEqual(await run(plainSteps));
  });

  it('keeps its graph when the BatchNorms are recalibrated: the statistics go into the variables\' own buffers', async () => {
    // As tl run does after each epoch (recalibrate: epoch, the default): measured statistics written.
    const between = (i: number, m: tf.LayersModel) => {
      if (i !== 4) return;
      const layers = batchNormLayers(m);
      const stats = new Map(layers.map((l, j) => [l.name, { mean: values([8], 90 + j), variance: values([8], 95 + j).map((v) => v * v + 0.5) }]));
      writeBatchNorm(layers, stats);
    };
    const g = graphs();
    const replayed = await train(g, { between });
    expect(g.stats).toMatchObject({ dropped: 0, graphs: 1 });
    expect(g.stats.replayed).toBeGreaterThanOrEqual(3);
    expectSame(replayed, await train(plainSteps, { between }));
  });

  it('keeps what the caller reads between steps apart from the replay', async () => {
    // Another model's work between steps takes buffers from the pool; none may be one the graph binds.
    const other = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 4 })] });
    other.setWeights(other.getWeights().map((w, i) => tf.tensor(values(w.shape, 90 + i), w.shape)));
    const seen: number[][] = [];
    const between = async (i: number, _m: tf.LayersModel, kept: tf.Tensor[]) => {
      const out = tf.tidy(() => other.predict(tf.tensor(values([3, 12, 12, 3], 70 + i), [3, 12, 12, 3])) as tf.Tensor);
      kept.push(out);
      seen.push(Array.from(await out.data()));
    };
    const g = graphs();
    const replayed = await train(g, { between });
    const fromReplayed = seen.splice(0);
    const plain = await train(plainSteps, { between });
    expect(g.stats.replayed).toBeGreaterThanOrEqual(3);
    expectSame(replayed, plain);
    expect(fromReplayed).toEqual(seen);
    other.dispose();
  });

  it.each(['sgd', 'adam', 'momentum', 'rmsprop'] as const)('replays %s steps under a learning rate that moves every step, to the same bits', async (optimizer) => {
    // As a cosine schedule or a warmup: the rate is a tensor the update reads, written in place.
    const lr = (i: number) => 0.1 * (1 - i / 10);
    const g = graphs();
    const replayed = await train(g, { optimizer, lr, sameKey: true });
    expect(g.stats.replayed).toBeGreaterThanOrEqual(3);
    expectSame(replayed, await train(plainSteps, { optimizer, lr }));
  });

  it('never replays a step whose values from JavaScript change', async () => {
    // A number from JavaScript that differs at every step, as a random draw would.
    const run = (runner: StepRunner) => small(runner, { shape: [16], seed: 40, body: (x, i) => tf.stack([tf.sum(x.mul(tf.scalar(i + 1))), tf.max(x)]) });
    const g = graphs();
    const replayed = await run(g);
    expect(g.stats.replayed).toBe(0);
    expect(g.stats.why).toMatch(/value from JavaScript changed/);
    expect(replayed).toEqual(await run(plainSteps));
  });

  it('never replays a step whose uniforms change, though each value was seen before', async () => {
    // Each of two blocks is written once and then bound from the uniform cache: only the binding
    // tells the steps apart.
    const run = (runner: StepRunner) =>
      small(runner, {
        shape: [2, 6, 6, 3],
        seed: 60,
        body: (x, i) => {
          const size = i % 2 === 0 ? 2 : 3;
          return tf.stack([tf.sum(tf.slice(x, [0, 0, 0, 0], [1, size, size, 3])), tf.max(x)]);
        },
      });
    const g = graphs();
    const replayed = await run(g);
    expect(g.stats.replayed).toBe(0);
    expect(g.stats.why).toMatch(/binds another buffer|command/);
    expect(replayed).toEqual(await run(plainSteps));
  });

  it('keeps a value written in the middle of a step behind the commands before it that use its buffer', async () => {
    // sum(x) goes into a small buffer that is free again after tfjs's next submit (every 15
    // dispatches); the scalar made after that goes up into the same buffer. Replayed in one submit,
    // the write would land before the sum's dispatch and the sum would overwrite it.
    const body = (x: tf.Tensor) => {
      let total = tf.tidy(() => tf.sum(x).mul(tf.sum(x)));
      for (let i = 0; i < 20; i++) total = tf.tidy(() => total.add(tf.mean(x)).sin());
      const half = tf.scalar(0.5);
      return tf.stack([total, half.mul(total), tf.sum(x).mul(half)]);
    };
    const run = (runner: StepRunner) => small(runner, { shape: [64], seed: 30, body });
    const g = graphs();
    const replayed = await run(g);
    expect(g.stats.replayed).toBeGreaterThanOrEqual(3);
    expect(g.stats.last!.submits).toBeGreaterThan(1);
    expect(replayed).toEqual(await run(plainSteps));
  });

  it('replays inference batches (predictAll) to the same scores, with fewer kernels run', async () => {
    const m = smallConvnet();
    m.setWeights(m.getWeights().map((w, i) => tf.tensor(values(w.shape, 600 + i), w.shape)));
    const batch = (idx: Int32Array) => tf.tensor(values([idx.length, 12, 12, 3], 1000 + idx[0]!), [idx.length, 12, 12, 3]);
    const predict = async () => {
      let result: { data: Float32Array; width: number } | undefined;
      const { kernels } = await tf.profile(async () => {
        result = await predictAll(42, 4, batch, m);
        return [];
      });
      return { ...result!, kernels: kernels.length };
    };
    const replayed = await predict();
    process.env.TL_STEP_REPLAY = '0';
    const plain = await predict().finally(() => delete process.env.TL_STEP_REPLAY);
    expect(replayed.width).toBe(4);
    expect(replayed.data).toEqual(plain.data);
    // Ten full batches and a last one of 2: the replayed ones run no kernels.
    expect(replayed.kernels).toBeLessThan(plain.kernels * 0.7);
    m.dispose();
  });

  it('gives a graph\'s buffers back before a step without a key, and records again after it', async () => {
    const pins = bufferPins(webgpuBackendOf(tf.backend()))!;
    const before = { ...pins.counts };
    const pinned: number[] = [];
    const recorded: number[] = [];
    const body = (x: tf.Tensor) => tf.stack([tf.sum(x.square()), tf.max(x.mul(x.sum()))]);
    // Step 6 is an epoch's last, smaller batch: no key.
    const key = (i: number) => (i === 6 ? null : 'k');
    const g = graphs();
    const after = () => {
      pinned.push(pins.counts.pinned);
      recorded.push(g.stats.recorded);
    };
    const replayed = await small(g, { shape: [32], seed: 20, steps: 12, body, key, after });
    expect(pinned[5]).toBeGreaterThan(before.pinned);
    expect(pinned[6]).toBe(before.pinned);
    expect(g.stats).toMatchObject({ graphs: 2 });
    // The step after records and, alike the dropped graph's recording, is the graph at once.
    expect(recorded[11]! - recorded[6]!).toBe(1);
    expect(pinned[7]).toBe(pinned[5]);
    expect(g.stats.replayed).toBeGreaterThanOrEqual(6);
    expect(replayed).toEqual(await small(plainSteps, { shape: [32], seed: 20, steps: 12, body, key }));
  });

  it('pins the buffers a graph binds, and gives them back to the pool when dropped', async () => {
    const pins = bufferPins(webgpuBackendOf(tf.backend()))!;
    const before = { ...pins.counts };
    const g = graphs();
    let during = { pinned: 0, held: 0 };
    await train(
      { run: (key, feeds, body) => g.run(key, feeds, body), dispose: () => ((during = { ...pins.counts }), g.dispose()) },
      {},
    );
    expect(during.pinned).toBeGreaterThan(20);
    expect(during.held).toBeGreaterThan(10);
    expect(pins.counts).toEqual(before);
  });
});
