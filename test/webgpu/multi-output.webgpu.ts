/**
 * Programs with several outputs (src/executor/backends/webgpu/multi-output.ts), run directly: every
 * output written at every index, dispatches past 65,535 workgroups folded without losing or
 * repeating an index, ordered with tfjs's own programs in the same command stream, under tf.time,
 * and with empty and wrong arguments.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { webgpuBackendOf } from '../../src/executor/backends/webgpu/backend.ts';
import { runMultiOutput, type MultiOutputProgram } from '../../src/executor/backends/webgpu/multi-output.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

const SUM_AND_PLACE: MultiOutputProgram = {
  key: 'testSumAndPlace',
  inputs: ['a', 'b'],
  outputs: ['sum', 'place'],
  uniforms: 'scale : f32,',
  body: `sum[index] = a[index] + b[index];
  place[index] = f32(index) * uniforms.scale + b[index];`,
};

/** Runs SUM_AND_PLACE on tensors, as tensors. */
function sumAndPlace(a: tf.Tensor, b: tf.Tensor, scale: number): tf.Tensor[] {
  const infos = runMultiOutput(webgpuBackendOf(tf.backend()), SUM_AND_PLACE, [a, b], [a.shape, a.shape], a.size, [{ type: 'float32', data: [scale] }]);
  return infos.map((info) => tf.engine().makeTensorFromTensorInfo(info));
}

describe.skipIf(!env.ok)(`multi-output programs on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each([1, 63, 64, 1000, 2 * 64 * 65535 + 7])('writes every output at each of %i indices, reading what tfjs\'s programs just wrote', async (n) => {
    await tf.setBackend('webgpu');
    // Both inputs come from programs queued in the same pass; the outputs go to more of tfjs's.
    const a = tf.mul(tf.range(0, n), 2);
    const b = tf.neg(tf.range(0, n));
    const [sum, place] = sumAndPlace(a, b, 2);
    const again = tf.add(sum!, 1);
    const [s, p, g] = await Promise.all([sum!.data(), place!.data(), again.data()]);
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      // a + b = 2i - i, place = 2i - i, again = i + 1: all exact in float32 (2i < 2^24).
      if (s[i] !== i || p[i] !== i || g[i] !== i + 1) wrong++;
    }
    expect(wrong).toBe(0);
    tf.dispose([a, b, sum!, place!, again]);
  });

  it('runs under tf.time, and leaves no tensor behind', async () => {
    const a = tf.fill([500], 2);
    const before = tf.memory().numTensors;
    let outs: tf.Tensor[] = [];
    const info = await tf.time(() => {
      outs = sumAndPlace(a, a, 0);
    });
    expect(info.kernelMs).toBeGreaterThanOrEqual(0);
    expect(Array.from(await outs[0]!.data())).toEqual(new Array(500).fill(4));
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([a, ...outs]);
  });

  it('makes empty outputs from empty inputs without a dispatch', async () => {
    const a = tf.zeros([0, 3]);
    const outs = sumAndPlace(a, a, 1);
    expect(outs.map((o) => o.shape)).toEqual([[0, 3], [0, 3]]);
    expect((await outs[1]!.data()).length).toBe(0);
    tf.dispose([a, ...outs]);
  });

  it('names the program when given the wrong number of inputs or outputs', () => {
    const a = tf.ones([4]);
    const backend = webgpuBackendOf(tf.backend());
    expect(() => runMultiOutput(backend, SUM_AND_PLACE, [a], [[4], [4]], 4, [{ type: 'float32', data: [1] }])).toThrow(/testSumAndPlace: takes 2 inputs and makes 2 outputs, given 1 and 2/);
    expect(() => runMultiOutput(backend, SUM_AND_PLACE, [a, a], [[4]], 4, [{ type: 'float32', data: [1] }])).toThrow(/given 2 and 1/);
    a.dispose();
  });
});
