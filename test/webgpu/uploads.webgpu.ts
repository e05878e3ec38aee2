/**
 * Values from JavaScript going up with `queue.writeBuffer` (src/executor/backends/webgpu/uploads.ts):
 * every dtype arrives as written, no staging buffer is made, and a pooled buffer written this way
 * never changes what commands recorded before it read from it.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { registerWebgpuTrainingKernels, unregisterWebgpuTrainingKernels } from '../../src/executor/backends/webgpu/index.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

/** Buffers the device makes while `f` runs, by whether they are staging buffers (MAP_WRITE). */
async function buffersMade(f: () => Promise<void>): Promise<{ staging: number; other: number }> {
  const device = (tf.backend() as unknown as { device: GPUDevice }).device;
  const own = device.createBuffer;
  const made = { staging: 0, other: 0 };
  device.createBuffer = (descriptor) => {
    made[descriptor.usage & GPUBufferUsage.MAP_WRITE ? 'staging' : 'other']++;
    return own.call(device, descriptor);
  };
  try {
    await f();
  } finally {
    device.createBuffer = own;
  }
  return made;
}

describe.skipIf(!env.ok)(`uploads on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it.each([
    ['float32', 'mixed magnitudes', [1.5, -2.25, 3e-8, 1e30, 7]],
    ['int32', 'both signs', [0, -1, 16777216, -16777215, 5]],
    ['bool', 'seven', [1, 0, 0, 1, 1, 0, 1]],
    ['float32', '1,027 values', Array.from({ length: 1027 }, (_, i) => Math.sin(i) * 1e3)],
    ['float32', 'one value', [42]],
  ] as const)('%s, %s: as written, through a program and read back', async (dtype, _what, written) => {
    await tf.setBackend('webgpu');
    const t = tf.tensor(written as number[], undefined, dtype);
    const expected = dtype === 'bool' ? written.map((v) => (v ? 1 : 0)) : Array.from(dtype === 'int32' ? Int32Array.from(written) : Float32Array.from(written));
    // A program with an operand already on the GPU runs there (tfjs computes small tensors whose
    // values are all on the CPU there too), so `t` goes up.
    const zero = tf.fill(t.shape, 0, dtype);
    const through = dtype === 'bool' ? tf.logicalOr(t, zero) : tf.add(t, zero);
    expect(Array.from(await through.data())).toEqual(expected);
    expect(Array.from(await t.data())).toEqual(expected); // from the GPU now
    tf.dispose([t, zero, through]);
  });

  it('makes no staging buffer; tfjs\'s own upload makes one a tensor', async () => {
    await tf.setBackend('webgpu');
    const upload = async () => {
      // Past tfjs's threshold for computing on the CPU, so both go up.
      const [a, b] = [tf.range(0, 2048), tf.tensor1d(new Float32Array(2048).fill(10))];
      const sum = tf.add(a, b);
      expect((await sum.data())[2047]).toBe(2057);
      tf.dispose([a, b, sum]);
    };
    await upload(); // the pool now holds buffers of these sizes
    const ours = await buffersMade(upload);
    unregisterWebgpuTrainingKernels();
    try {
      const tfjs = await buffersMade(upload);
      expect(tfjs.staging).toBe(2);
    } finally {
      registerWebgpuTrainingKernels();
    }
    expect(ours).toEqual({ staging: 0, other: 0 });
  });

  it('a tensor freed while queued commands read it keeps its buffer out of the pool until they are submitted', async () => {
    await tf.setBackend('webgpu');
    const n = 4096;
    // Queued, not submitted: `x` read by several programs, then freed while they wait.
    const x = tf.fill([n], 3);
    const y = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => i));
    const queued = tf.tidy(() => tf.add(tf.mul(y, 2), tf.neg(y)));
    const xs = [0, 1, 2].map((k) => tf.add(y, k));
    y.dispose();
    // Same size, so the pool may hand y's buffer out again: the new values must not reach `queued`.
    const z = tf.tensor1d(new Float32Array(n).fill(-1000));
    const later = tf.add(z, 1);
    const got = await queued.data();
    for (let i = 0; i < n; i += 97) expect(got[i], `index ${i}`).toBe(i);
    for (const [k, t] of xs.entries()) expect((await t.data())[n - 1]).toBe(n - 1 + k);
    expect((await later.data())[0]).toBe(-999);
    tf.dispose([x, queued, ...xs, z, later]);
  });

  it('writing a freed buffer again leaves commands submitted before reading the old values', async () => {
    await tf.setBackend('webgpu');
    const backend = tf.backend() as unknown as { tensorMap: { get(id: unknown): { resource: unknown } } };
    const bufferOf = (t: tf.Tensor) => backend.tensorMap.get(t.dataId).resource;
    const n = 4099; // a size no other test here uses, so the pool's list for it starts empty
    // Every dispatch submitted at once: y's buffer goes back to the pool as soon as y is freed,
    // while the submitted reads of it may not have run yet.
    tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 1);
    try {
      const y = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => i));
      const submitted = tf.tidy(() => tf.add(tf.mul(y, 2), tf.neg(y)));
      const yBuffer = bufferOf(y);
      y.dispose();
      const z = tf.tensor1d(new Float32Array(n).fill(-1000));
      const later = tf.add(z, 1);
      expect(bufferOf(z)).toBe(yBuffer); // the case this tests: the pool hands y's buffer to z
      const got = await submitted.data();
      for (let i = 0; i < n; i += 97) expect(got[i], `index ${i}`).toBe(i);
      expect((await later.data())[n - 1]).toBe(-999);
      tf.dispose([submitted, z, later]);
    } finally {
      tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 15);
    }
  });
});
