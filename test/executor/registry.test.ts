/**
 * How TL replaces tfjs's kernels and puts them back (src/executor/backends/registry.ts), on the
 * cpu backend: the backend's own kernel is kept from the first replacement, however many follow,
 * and restoring puts exactly that back, or nothing where there was none.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ownKernel, replacedKernel, restoreKernel, setKernel } from '../../src/executor/backends/registry.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const negOf = (values: number[]) => Array.from(tf.neg(tf.tensor1d(values)).dataSync());

describe('the kernel registry', () => {
  it('keeps the backend\'s own kernel across replacements and restores it', () => {
    const own = tf.getKernel('Neg', 'cpu')!;
    const double: tf.KernelFunc = ({ inputs }) => tf.mul(inputs['x'] as tf.Tensor, 2);
    const triple: tf.KernelFunc = ({ inputs }) => tf.mul(inputs['x'] as tf.Tensor, 3);
    setKernel('Neg', 'cpu', double);
    expect(negOf([1, -2])).toEqual([2, -4]);
    setKernel('Neg', 'cpu', triple);
    expect(negOf([1, -2])).toEqual([3, -6]);
    expect(ownKernel('Neg', 'cpu')).toBe(own);
    expect(replacedKernel('Neg', 'cpu')).toBe(own.kernelFunc);
    restoreKernel('Neg', 'cpu');
    expect(tf.getKernel('Neg', 'cpu')).toBe(own);
    expect(negOf([1, -2])).toEqual([-1, 2]);
    // Nothing recorded any more: restoring again, or a kernel TL never set, changes nothing.
    restoreKernel('Neg', 'cpu');
    restoreKernel('Abs', 'cpu');
    expect(tf.getKernel('Neg', 'cpu')).toBe(own);
    expect(tf.getKernel('Abs', 'cpu')).toBeDefined();
    expect(() => replacedKernel('Neg', 'cpu')).toThrow("no Neg kernel of cpu's own to hand this case to");
  });

  it('removes a kernel of TL\'s own where the backend had none', () => {
    const name = 'TLRegistryTestKernel';
    expect(ownKernel(name, 'cpu')).toBeUndefined();
    setKernel(name, 'cpu', ({ inputs }) => tf.add(inputs['x'] as tf.Tensor, 1));
    expect(Array.from((tf.engine().runKernel(name, { x: tf.tensor1d([1]) }, {}) as tf.Tensor).dataSync())).toEqual([2]);
    expect(ownKernel(name, 'cpu')).toBeUndefined();
    expect(() => replacedKernel(name, 'cpu')).toThrow(/no TLRegistryTestKernel kernel of cpu's own/);
    restoreKernel(name, 'cpu');
    expect(tf.getKernel(name, 'cpu')).toBeUndefined();
  });
});
