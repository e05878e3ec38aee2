/**
 * A convolution's gradients computed only where needed (src/executor/conv-gradients.ts): the same
 * values and gradients as tf.fused.conv2d, which tf.layers runs; no input gradient where nothing
 * below the convolution is differentiated (tf.fused.conv2d computes one there); and through
 * fuseActivationsForTraining, which gives every convolution layer of a model about to train this
 * call, the stem of a zoo network no longer computes the image's gradient, and the weights'
 * gradients are the same.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { conv2d, type Conv2dArgs } from '../../src/executor/conv-gradients.ts';
import { fuseActivationsForTraining } from '../../src/executor/fold-batchnorm.ts';
import { buildNetwork } from '../../src/executor/zoo/networks.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Case = Omit<Conv2dArgs, 'x' | 'filter' | 'bias'> & { x: [number, number, number, number]; filter: [number, number, number, number]; withBias: boolean };

const CASES: Case[] = [
  { x: [2, 7, 6, 3], filter: [3, 3, 3, 5], strides: [1, 1], pad: 'same', dilations: 1, withBias: true },
  { x: [1, 9, 9, 4], filter: [3, 2, 4, 6], strides: [2, 1], pad: 'valid', dilations: [1, 1], withBias: false },
  { x: [3, 8, 8, 2], filter: [7, 7, 2, 4], strides: [2, 2], pad: [[0, 0], [3, 2], [2, 3], [0, 0]], dilations: 1, withBias: true },
  { x: [2, 5, 5, 8], filter: [1, 1, 8, 3], strides: [2, 2], pad: 'same', dilations: 1, withBias: true },
];

const name = (c: Case) => `x ${c.x.join('x')} filter ${c.filter.join('x')} strides ${c.strides.join(',')} pad ${JSON.stringify(c.pad)}${c.withBias ? ' with a bias' : ''}`;

/** The kernels `f` runs, by name. */
async function kernelsOf(f: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const { kernels, result } = await tf.profile(f);
  tf.dispose(result as tf.Tensor | tf.Tensor[]);
  return kernels.map((k) => k.name);
}

describe('a convolution with only the gradients something needs', () => {
  for (const c of CASES) {
    it(`gives tf.fused.conv2d's values and gradients, bit for bit: ${name(c)}`, async () => {
      const x = tf.randomUniform(c.x, -1, 1, 'float32', 1) as tf.Tensor4D;
      const filter = tf.randomUniform(c.filter, -1, 1, 'float32', 2) as tf.Tensor4D;
      const bias = c.withBias ? tf.randomUniform([c.filter[3]], -1, 1, 'float32', 3) : undefined;
      const args = { strides: c.strides, pad: c.pad, dilations: c.dilations };
      const fused = (a: Conv2dArgs) => tf.fused.conv2d(a);
      const weight = tf.randomUniform(fused({ ...args, x, filter }).shape, -1, 1, 'float32', 4);
      // Every input's gradient: x, filter, and the bias where there is one.
      const gradients = (op: (a: Conv2dArgs) => tf.Tensor) =>
        tf.grads((...ins: tf.Tensor[]) => tf.sum(tf.mul(op({ ...args, x: ins[0] as tf.Tensor4D, filter: ins[1] as tf.Tensor4D, bias: ins[2] }), weight)))(bias ? [x, filter, bias] : [x, filter]);
      const ours = gradients(conv2d);
      const theirs = gradients(fused);
      try {
        expect(Array.from(await conv2d({ ...args, x, filter, bias }).data())).toEqual(Array.from(await fused({ ...args, x, filter, bias }).data()));
        expect(ours).toHaveLength(bias ? 3 : 2);
        for (let i = 0; i < ours.length; i++) expect(Array.from(await ours[i]!.data()), ['x', 'filter', 'bias'][i]).toEqual(Array.from(await theirs[i]!.data()));
      } finally {
        tf.dispose([x, filter, weight, ...(bias ? [bias] : []), ...ours, ...theirs]);
      }
    });
  }

  it('computes no input gradient where only the filter and bias are differentiated; tf.fused.conv2d computes one', async () => {
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1) as tf.Tensor4D;
    const filter = tf.variable(tf.randomUniform([3, 3, 3, 4], -1, 1));
    const bias = tf.variable(tf.zeros([4]));
    const step = (op: (args: Conv2dArgs) => tf.Tensor) => () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(op({ x, filter: filter as unknown as tf.Tensor4D, bias, strides: [2, 2], pad: 'same', dilations: 1 })) as tf.Scalar, [filter, bias]);
      return [value, ...Object.values(grads)];
    };
    const ours = await kernelsOf(step(conv2d));
    const theirs = await kernelsOf(step((args) => tf.fused.conv2d(args)));
    expect(ours).toContain('Conv2DBackpropFilter');
    expect(ours).not.toContain('Conv2DBackpropInput');
    expect(theirs).toContain('Conv2DBackpropInput');
    tf.dispose([x, filter, bias]);
  });
});

describe('the convolution layers of a model about to train', () => {
  it('leave out the image gradient below a zoo network stem: one input gradient fewer, the same weight gradients', async () => {
    const model = await buildNetwork('mobilenetv2', 32);
    const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 7);
    const pass = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, model.trainableWeights.map((w) => w.read() as tf.Variable));
      return [value, ...Object.values(grads)];
    };
    const inputGradients = (kernels: string[]) => kernels.filter((k) => k === 'Conv2DBackpropInput').length;
    const predict = () => kernelsOf(() => model.predict(x) as tf.Tensor);
    try {
      const plain = { kernels: await kernelsOf(pass), grads: pass(), predict: await predict() };
      const fused = fuseActivationsForTraining(model);
      let patched: typeof plain;
      try {
        patched = { kernels: await kernelsOf(pass), grads: pass(), predict: await predict() };
      } finally {
        fused.restore();
      }
      expect(inputGradients(patched.kernels)).toBe(inputGradients(plain.kernels) - 1);
      for (let i = 0; i < plain.grads.length; i++) expect(Array.from(await patched.grads[i]!.data())).toEqual(Array.from(await plain.grads[i]!.data()));
      tf.dispose([...plain.grads, ...patched.grads]);
      // Off a gradient tape (inference) the layers run as before.
      expect(patched.predict).toEqual(plain.predict);
    } finally {
      tf.dispose(x);
      model.dispose();
    }
  }, 120_000);

});
