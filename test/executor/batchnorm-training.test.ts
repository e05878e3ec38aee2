/**
 * The training-mode BatchNorm op on wasm (src/executor/backends/batchnorm-training.ts with the
 * kernels of wasm-kernels/batchnorm.ts): the webgpu suite's BatchNorm parity cases, run on wasm
 * against cpu (which runs tfjs-layers' own BatchNorm), and what the op does to a training call.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { BN_FORWARD, BN_TRAINING_GRAD, unregisterTrainingBatchNorm } from '../../src/executor/backends/batchnorm-training.ts';
import { registerWasmTrainingKernels } from '../../src/executor/backends/wasm-kernels.ts';
import { memoryOf } from '../../src/executor/backends/wasm-kernels/heap.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { batchNormCases } from '../webgpu/cases/batchnorm.ts';
import { RELATIVE_TOLERANCE, relativeError, runOn, values, weightedSum, worstError } from '../webgpu/parity.ts';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  registerWasmTrainingKernels();
});

describe('training-mode BatchNorm on wasm, against tfjs-layers on cpu', () => {
  // Outputs, gradients of x, gamma and beta, and the moving statistics the call wrote.
  for (const c of batchNormCases()) {
    it(c.name, async () => {
      expect(await worstError(c, 'wasm')).toBeLessThan(RELATIVE_TOLERANCE);
    });
  }
});

/** A BatchNorm (gamma scaled so the normalised values cross 0 and 6) and a ReLU6 after it. */
function bnRelu6(shape: number[]): { model: tf.LayersModel; bn: tf.layers.Layer } {
  const input = tf.input({ shape: shape.slice(1) });
  const bn = tf.layers.batchNormalization({ momentum: 0.9, gammaInitializer: tf.initializers.constant({ value: 4 }) });
  const model = tf.model({ inputs: input, outputs: tf.layers.reLU({ maxValue: 6 }).apply(bn.apply(input)) as tf.SymbolicTensor });
  return { model, bn };
}

/** The kernels one training step of `model` on x runs (forward and gradients). */
async function kernelsOfStep(model: tf.LayersModel, x: tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => {
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor), vars);
    tf.dispose([value, ...Object.values(grads)]);
  });
  return info.kernels.map((k) => k.name);
}

describe('the op in a training step on wasm', () => {
  it('replaces the moments and autodiff, and with the activation fused, the ReLU6 and its gradient', async () => {
    const shape = [4, 6, 6, 8];
    const { model } = bnRelu6(shape);
    const x = tf.tensor(values(shape, 3), shape);
    const plain = await kernelsOfStep(model, x);
    expect(plain).toContain(BN_FORWARD);
    expect(plain).toContain(BN_TRAINING_GRAD);
    expect(plain).not.toContain('FusedBatchNorm');
    expect(plain).toContain('ClipByValue');
    const fused = fuseActivationsForTraining(model);
    expect(fused.pairs).toHaveLength(1);
    const names = await kernelsOfStep(model, x);
    expect(names.filter((n) => n === BN_FORWARD)).toHaveLength(1);
    for (const gone of ['ClipByValue', 'Relu', 'Relu6', 'GreaterEqual', 'LessEqual', 'Select']) expect(names).not.toContain(gone);
    fused.restore();
    tf.dispose([x]);
    model.dispose();
  });

  it('leaves inference calls, and calls on a backend without the op, to tfjs-layers', async () => {
    const { model } = bnRelu6([2, 3, 3, 4]);
    const x = tf.tensor(values([2, 3, 3, 4], 5), [2, 3, 3, 4]);
    const inference = await tf.profile(() => tf.dispose(model.apply(x, { training: false }) as tf.Tensor));
    expect(inference.kernels.map((k) => k.name)).not.toContain(BN_FORWARD);
    unregisterTrainingBatchNorm('wasm');
    try {
      expect(await kernelsOfStep(model, x)).not.toContain(BN_FORWARD);
    } finally {
      registerWasmTrainingKernels();
    }
    expect(await kernelsOfStep(model, x)).toContain(BN_FORWARD);
    tf.dispose([x]);
    model.dispose();
  });

  it('writes the moving statistics in place, but not into data a tensor shares', () => {
    const shape = [8, 5];
    const { model, bn } = bnRelu6(shape);
    const x = tf.tensor(values(shape, 11), shape);
    // After an assign the variable shares the tensor's data (as when early stopping puts the best weights back).
    const kept = tf.zeros([5]);
    (bn.getWeights()[2] as tf.Variable).assign(kept);
    tf.tidy(() => model.apply(x, { training: true }) as tf.Tensor);
    expect(Array.from(kept.dataSync())).toEqual([0, 0, 0, 0, 0]);
    // The layer's moving mean moved a tenth of the way toward the batch mean.
    const expected = tf.tidy(() => tf.mul(tf.mean(x, 0), 0.1).dataSync());
    const moved = bn.getWeights()[2]!.dataSync();
    for (let c = 0; c < 5; c++) expect(moved[c]).toBeCloseTo(expected[c]!, 6);
    tf.dispose([x, kept]);
    model.dispose();
  });

  it('masks dy at the boundaries of the activation as tfjs does: nothing at 0, everything at 6', async () => {
    // Rows equal to the channel's mean normalise to beta exactly: 0 for the ReLU, 6 for the ReLU6.
    const x = [0, 1, 0, 1, 2, 3, -2, -1];
    const gradient = (maxValue: number | undefined, beta: number) => () => {
      const input = tf.input({ shape: [2] });
      const bn = tf.layers.batchNormalization({ betaInitializer: tf.initializers.constant({ value: beta }) });
      const model = tf.model({ inputs: input, outputs: tf.layers.reLU({ maxValue }).apply(bn.apply(input)) as tf.SymbolicTensor });
      const fused = fuseActivationsForTraining(model);
      const xv = tf.tensor2d(x, [4, 2]);
      const g = tf.grad((t: tf.Tensor) => weightedSum(model.apply(t, { training: true }) as tf.Tensor))(xv);
      fused.restore();
      model.dispose();
      return g;
    };
    for (const [maxValue, beta] of [[undefined, 0], [6, 6]] as const) {
      const [expected] = await runOn('cpu', [], gradient(maxValue, beta));
      const [actual] = await runOn('wasm', [], gradient(maxValue, beta));
      expect(relativeError(actual!, expected!)).toBeLessThan(RELATIVE_TOLERANCE);
    }
  });

  it('does not depend on what freed heap memory held before (its sums start at zero)', async () => {
    const c = batchNormCases().find((k) => k.name.startsWith('a tf.layers.batchNormalization layer training, axis -1: 4x5x5x12'))!;
    await tf.setBackend('wasm');
    const { memory, malloc, free } = memoryOf(tf.backend());
    const bytes = 1 << 20;
    const pointer = malloc(bytes);
    new Float32Array(memory.buffer, pointer, bytes / 4).fill(1e30);
    free(pointer);
    expect(await worstError(c, 'wasm')).toBeLessThan(RELATIVE_TOLERANCE);
  });

  it('keeps a NaN in the input a NaN in the output, through ReLU6', () => {
    const { model } = bnRelu6([4, 2]);
    fuseActivationsForTraining(model);
    const x = tf.tensor2d([[1, 2], [NaN, 3], [0, 4], [2, 5]]);
    const y = tf.tidy(() => (model.apply(x, { training: true }) as tf.Tensor).dataSync());
    // Channel 0's statistics are NaN, so all of it is; channel 1 is finite and clamped to [0, 6].
    expect([y[0], y[2], y[4], y[6]].every(Number.isNaN)).toBe(true);
    for (const v of [y[1], y[3], y[5], y[7]]) expect(v! >= 0 && v! <= 6).toBe(true);
    tf.dispose(x);
    model.dispose();
  });
});
