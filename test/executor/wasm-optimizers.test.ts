/**
 * tfjs's optimizers on the wasm backend with each variable's update in one WebAssembly pass
 * (src/executor/backends/wasm-kernels/optimizers.ts, through ../fused-optimizers.ts): the same
 * bits as tfjs's own ops, the same state, written in place without touching a clone, and the
 * settings TL does not fuse left to tfjs.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerFusedOptimizers, setWeightDecay, unregisterFusedOptimizers } from '../../src/executor/backends/fused-optimizers.ts';
import { writesInPlace } from '../../src/executor/backends/in-place-writes.ts';
import { registerWasmTrainingKernels } from '../../src/executor/backends/wasm-kernels.ts';
import { wasmUpdater } from '../../src/executor/backends/wasm-kernels/optimizers.ts';

beforeAll(async () => {
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
});

/** Odd sizes on purpose: the passes take four values at a time, then the rest one by one. */
const SHAPES = [[1], [3], [5], [7, 9], [3, 3, 4, 5], [2, 17]];

const OPTIMIZERS: Record<string, () => tf.Optimizer> = {
  adam: () => tf.train.adam(0.01, 0.8, 0.95, 1e-4),
  sgd: () => tf.train.sgd(0.1),
  momentum: () => tf.train.momentum(0.1, 0.7),
  rmsprop: () => tf.train.rmsprop(0.01, 0.8, 0.3, 1e-5),
  'nesterov momentum (left to tfjs)': () => tf.train.momentum(0.1, 0.7, true),
  'centered rmsprop (left to tfjs)': () => tf.train.rmsprop(0.01, 0.8, 0.3, 1e-5, true),
};

/** A formula, so that every run starts from the same numbers; a few values large, one zero gradient. */
function values(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, (_, i) => (i === 2 ? 0 : Math.sin(1.7 * i + seed) * (i % 5 === 0 ? 30 : 1))), shape);
}

interface Outcome {
  weights: Float32Array[];
  state: { name: string; values: Float32Array }[];
}

/** Three steps of `make`'s optimizer on fresh variables, on `backend`, fused there or not. */
async function train(make: () => tf.Optimizer, backend: 'wasm' | 'cpu', fused: boolean, asArray = false): Promise<Outcome> {
  await tf.setBackend(backend);
  if (fused) registerFusedOptimizers('wasm', wasmUpdater);
  else unregisterFusedOptimizers('wasm');
  try {
    const vars = SHAPES.map((s, i) => tf.variable(values(s, i), true));
    const optimizer = make();
    for (let step = 1; step <= 3; step++) {
      const grads = vars.map((v, i) => ({ name: v.name, tensor: values(v.shape, 10 * step + i) }));
      optimizer.applyGradients(asArray ? grads : Object.fromEntries(grads.map((g) => [g.name, g.tensor])));
      tf.dispose(grads.map((g) => g.tensor));
    }
    const state = (await optimizer.getWeights()).map((w) => ({ name: w.name.replace(/^.*?\//, ''), values: w.tensor.dataSync() as Float32Array }));
    const outcome = { weights: vars.map((v) => v.dataSync() as Float32Array), state };
    tf.dispose(vars);
    return outcome;
  } finally {
    registerFusedOptimizers('wasm', wasmUpdater);
  }
}

describe('fused optimizer updates on wasm', () => {
  // First: the tests below register and unregister the updates themselves.
  it('runs a pass a variable instead of tfjs\'s ops, as registerWasmTrainingKernels leaves them', async () => {
    await tf.setBackend('wasm');
    const vars = SHAPES.map((s, i) => tf.variable(values(s, i), true));
    const grads = Object.fromEntries(vars.map((v, i) => [v.name, values(v.shape, 40 + i)]));
    for (const make of [OPTIMIZERS['adam']!, OPTIMIZERS['sgd']!]) {
      const optimizer = make();
      optimizer.applyGradients(grads); // slots made
      const profile = await tf.profile(() => optimizer.applyGradients(grads) as unknown as tf.Tensor);
      // Adam: only its accumulated betas are tfjs ops (1 - beta^t, two products); SGD none.
      expect(profile.kernels.length).toBeLessThan(8);
    }
    tf.dispose([...vars, ...Object.values(grads)]);
  });

  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    it(`${name}: the same bits and state as tfjs's own ops, close to cpu`, async () => {
      const fused = await train(make, 'wasm', true);
      const own = await train(make, 'wasm', false);
      const cpu = await train(make, 'cpu', false);
      expect(fused.weights).toEqual(own.weights);
      expect(fused.state.map((s) => s.name)).toEqual(own.state.map((s) => s.name));
      expect(fused.state).toEqual(own.state);
      // Centered RMSprop takes the root of a difference, negative for some of these values on any backend.
      const far = fused.weights.flatMap((w, i) => Array.from(w).filter((x, j) => {
        const y = cpu.weights[i]![j]!;
        return Number.isNaN(y) ? !Number.isNaN(x) : !(Math.abs(x - y) <= 1e-4 * (1 + Math.abs(y)));
      }));
      expect(far).toEqual([]);
    });
  }

  it('takes gradients as a list too', async () => {
    expect((await train(OPTIMIZERS['adam']!, 'wasm', true, true)).weights).toEqual((await train(OPTIMIZERS['adam']!, 'wasm', false, true)).weights);
  });

  it('gives each variable new memory, as tfjs does, and writes the state in place, never into memory it shares', async () => {
    await tf.setBackend('wasm');
    const init = values([6], 1);
    const v = tf.variable(init, true); // shares init's memory
    const optimizer = tf.train.momentum(0.5, 0.9);
    optimizer.applyGradients([{ name: v.name, tensor: values([6], 2) }]);
    const accumulation = (await optimizer.getWeights()).at(-1)!.tensor as tf.Variable;
    const loaded = values([6], 5);
    accumulation.assign(loaded); // shares loaded's memory, as after optimizer.setWeights
    const before = [init, loaded].map((t) => t.dataSync().slice());
    const valueId = v.dataId;
    const writes = writesInPlace(accumulation);
    optimizer.applyGradients([{ name: v.name, tensor: values([6], 3) }]);
    expect([init, loaded].map((t) => t.dataSync())).toEqual(before);
    expect(accumulation.dataSync()).not.toEqual(before[1]);
    expect(v.dataId).not.toBe(valueId);
    // The shared accumulation got memory of its own first; the next step writes into that.
    expect(writesInPlace(accumulation)).toBe(writes + 1);
    const own = accumulation.dataId;
    expect(own).not.toBe(loaded.dataId);
    optimizer.applyGradients([{ name: v.name, tensor: values([6], 4) }]);
    expect(accumulation.dataId).toBe(own);
    tf.dispose([v, init, loaded]);
  });

  it('trains a convolution and a dense layer as tfjs\'s own updates do: they never compute with stale weights', async () => {
    // The wasm backend's convolutions and products cache their weights packed, by tensor.
    const trainSteps = async (fused: boolean) => {
      await tf.setBackend('wasm');
      if (fused) registerFusedOptimizers('wasm', wasmUpdater);
      else unregisterFusedOptimizers('wasm');
      try {
        const model = tf.sequential({
          layers: [
            tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, activation: 'relu' }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 3, activation: 'softmax' }),
          ],
        });
        model.setWeights(model.weights.map((w, k) => values(w.shape as number[], k)));
        model.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy' });
        const x = values([6, 8, 8, 3], 9);
        const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
        const losses: number[] = [];
        for (let step = 0; step < 4; step++) losses.push((await model.trainOnBatch(x, y)) as number);
        const weights = model.getWeights().map((w) => w.dataSync());
        tf.dispose([x, y]);
        return { losses, weights };
      } finally {
        registerFusedOptimizers('wasm', wasmUpdater);
      }
    };
    const fused = await trainSteps(true);
    const own = await trainSteps(false);
    expect(fused.losses).toEqual(own.losses);
    expect(fused.weights).toEqual(own.weights);
  });
});

describe('weight decay', () => {
  const withDecay = (make: () => tf.Optimizer, decay: number) => () => {
    const optimizer = make();
    setWeightDecay(optimizer, decay);
    return optimizer;
  };
  const close = (a: Float32Array[], b: Float32Array[]) =>
    a.flatMap((w, i) => Array.from(w).filter((x, j) => !(Math.abs(x - b[i]![j]!) <= 1e-5 * (1 + Math.abs(b[i]![j]!)))));

  for (const name of ['adam', 'sgd', 'momentum', 'rmsprop']) {
    it(`${name}: fused on wasm as tfjs's own update after the shrink, on cpu too; biases (rank 1) left alone`, async () => {
      const make = withDecay(OPTIMIZERS[name]!, 0.1);
      const fused = await train(make, 'wasm', true);
      const own = await train(make, 'wasm', false);
      const cpu = await train(make, 'cpu', false);
      const plain = await train(OPTIMIZERS[name]!, 'wasm', true);
      expect(close(fused.weights, own.weights)).toEqual([]);
      expect(close(fused.weights, cpu.weights)).toEqual([]);
      expect(fused.state).toEqual(plain.state); // the moments see the gradient alone
      SHAPES.forEach((shape, i) => {
        if (shape.length === 1) expect(fused.weights[i], `shape ${shape}`).toEqual(plain.weights[i]);
        else expect(close([fused.weights[i]!], [plain.weights[i]!]).length, `shape ${shape}`).toBeGreaterThan(0);
      });
    });
  }

  it('shrinks a weight by 1 - lr w at each step, before the update, whichever path updates it', async () => {
    for (const [backend, fused] of [['wasm', true], ['wasm', false], ['cpu', false]] as const) {
      await tf.setBackend(backend);
      if (!fused) unregisterFusedOptimizers('wasm');
      const x = tf.variable(tf.fill([2, 3], 2), true);
      const b = tf.variable(tf.fill([3], 2), true);
      const optimizer = withDecay(() => tf.train.sgd(0.5), 0.1)();
      for (let step = 0; step < 3; step++) optimizer.applyGradients({ [x.name]: tf.zeros([2, 3]), [b.name]: tf.zeros([3]) });
      // A zero gradient: only the decay moves it, by 1 - 0.5 * 0.1 a step.
      for (const v of x.dataSync()) expect(Math.abs(v - 2 * 0.95 ** 3), `${backend}, fused ${fused}`).toBeLessThan(1e-6);
      expect(Array.from(b.dataSync())).toEqual([2, 2, 2]);
      tf.dispose([x, b]);
      optimizer.dispose();
      registerFusedOptimizers('wasm', wasmUpdater);
    }
  });
});
